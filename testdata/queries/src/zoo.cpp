#include "zoo/animal.h"

namespace zoo {

Animal::~Animal() {}

Grams Animal::weight() const { return grams_; }

bool Animal::operator==(const Animal &other) const { return weight() == other.weight(); }

Name Dog::sound() const { return "woof"; }

Name Puppy::sound() const { return "yip"; }

Name Cat::sound() const { return "meow"; }

namespace {
/// Speaks for an animal.
Name speak(const Animal &animal) { return animal.sound(); }
}  // namespace

/** Feeds the usual portion. */
void feed(Animal &animal) { feed(animal, 100); }

void feed(Animal &animal, Grams grams) {
  speak(animal);
  (void)grams;
}

}  // namespace zoo
