#pragma once

int work(int value);

// Two lambdas of one signature in an inline function: two symbols.
inline int both(int value) {
    auto first = [](int x) { return work(x); };
    auto second = [](int x) { return work(x + 1); };
    return first(value) + second(value);
}
