#pragma once

namespace ov {

int scale(int value);
double scale(double value);

}  // namespace ov
