#include "zoo/animal.h"

static int visit(zoo::Animal &animal) {
  zoo::feed(animal);
  return animal == animal ? 1 : 0;
}

static int countdown(int n) { return n > 0 ? countdown(n - 1) : 0; }

int main() {
  zoo::Puppy puppy;
  zoo::BoxedGrams box{3};
  return visit(puppy) + countdown(3) + static_cast<int>(box.value);
}
