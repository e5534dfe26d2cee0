#include "shared.h"

int u2(shared::Pair pair) { return pair.first; }
