#pragma once
#include <stddef.h>

namespace geo {

enum class Color { Red, Green, Blue };
/// Anything with an area: the base of Circle and Square.
class Shape {
public:
    virtual ~Shape() = default;
    virtual double area() const = 0;
    Color color() const { return color_; }

protected:
    Color color_ = Color::Red;
};

class Circle : public Shape {
public:
    explicit Circle(double r);
    double area() const override;

private:
    double radius_;
};

class Square : public Shape {
public:
    explicit Square(double side) : side_(side) {}
    double area() const override { return side_ * side_; }

private:
    double side_;
};

template <typename T>
T clamp(T value, T lo, T hi) {
    return value < lo ? lo : (hi < value ? hi : value);
}

double total_area(const Shape* const* shapes, size_t count);

}  // namespace geo
