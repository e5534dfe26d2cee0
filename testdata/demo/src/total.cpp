#include "geo/shape.h"

namespace geo {

static double weight(const Shape& shape) { return shape.color() == Color::Red ? 2.0 : 1.0; }

double total_area(const Shape* const* shapes, size_t count) {
    double sum = 0;
    for (size_t i = 0; i < count; ++i) {
        sum += weight(*shapes[i]) * shapes[i]->area();
    }
    return sum;
}

}  // namespace geo
