#pragma once
#include "zoo/types.h"

namespace zoo {

/// An animal of the zoo.
///
/// Every animal makes a sound.
class Animal {
 public:
  virtual ~Animal();
  /// The sound it makes.
  virtual Name sound() const = 0;
  Grams weight() const;  ///< Its weight.
  bool operator==(const Animal &other) const;

 protected:
  Grams grams_ = 0;
};

class Dog : public Animal {
 public:
  Name sound() const override;
};

class Puppy : public Dog {
 public:
  Name sound() const override;
};

class Cat : public virtual Animal, public Box<int> {
 public:
  Name sound() const override;
};

void feed(Animal &animal);
void feed(Animal &animal, Grams grams);

}  // namespace zoo
