#include "zoo/animal.h"

namespace zoo {

void Animal::feed(int amount) {
    eaten_ += amount;
}

static int twice(int n) { return n * 2; }

int count(const Animal& animal) { return animal.legs(); }

int count(const Animal& animal, int times) { return twice(animal.legs()) * times; }

}  // namespace zoo
