#pragma once

namespace geo {

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
    std::string name;
};

double total_area(const std::vector<const Shape*>& shapes);

}  // namespace geo
