#include "loc/text.h"

template <typename T>
concept Small = sizeof(T) <= 4;

template <Small T>
int first(text::Pair<T> pair) {
    return pair[0];
}

int use() {
    int pair[2] = {1, 2};
    return first<int>(pair);
}

auto pick = &text::measure;
