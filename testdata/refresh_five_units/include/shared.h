#pragma once

namespace shared {

int value();

struct Pair {
    int first;
    int second;
};

}  // namespace shared
