#include "ov/scale.h"

static int helper(int x) { return x * 2; }

namespace ov {
int scale(int value) { return helper(value); }
}  // namespace ov
