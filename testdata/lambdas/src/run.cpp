#include "lam/work.h"

template <typename F>
void each(int* first, int* last, F f);

// At namespace scope: held by the variable it initialises.
auto global = [](int x) { return work(x); };

int run(int* values, int count) {
    each(values, values + count, [](int v) { work(v); });
    auto outer = [&](int y) {
        auto inner = [y] { return work(y); };
        return inner() + work(y);
    };
    return outer(count) + global(1) + both(2);
}
