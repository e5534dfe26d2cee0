#include "ov/scale.h"

static int helper(int x) { return x + 3; }

namespace ov {
double scale(double value) { return helper(1) * value; }
}  // namespace ov

int use_both() { return ov::scale(1) + static_cast<int>(ov::scale(2.0)); }
