#pragma once

#define ZOO_LEGS 4

namespace zoo {

class Animal {
public:
    virtual ~Animal() = default;
    virtual int legs() const = 0;
    void feed(int amount);
    int eaten() const { return eaten_; }

protected:
    int eaten_ = 0;
};

class Dog : public Animal {
public:
    int legs() const override { return ZOO_LEGS; }
};

int count(const Animal& animal);
int count(const Animal& animal, int times);

enum class Size { Small, Large };
enum { MaxAnimals = 8 };

}  // namespace zoo
