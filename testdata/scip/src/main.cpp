#include <stdlib.h>
#include "zoo/animal.h"

namespace {
int total = 0;
void add(int n) { total = total + n; }
}  // namespace

int main() {
    zoo::Dog dog;
    dog.feed(ZOO_LEGS);
    add(zoo::count(dog));
    if (zoo::MaxAnimals < 2) return static_cast<int>(zoo::Size::Large);
    return total > 0 ? EXIT_SUCCESS : abs(total);
}
