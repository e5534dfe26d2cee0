#include "geo/shape.h"

namespace geo {

Circle::Circle(double r) : radius_(clamp(r, 0.0, 1e6)) {}

double Circle::area() const { return 3.14159265358979 * radius_ * radius_; }

}  // namespace geo
