#pragma once

namespace text {

int measure(int length);

struct Name {
    Name(int id);
    ~Name();
    int id;
};

int lookup(Name name);

struct Flag {
    explicit operator bool() const;
};

template <typename T>
using Pair = T[2];

}  // namespace text

namespace alias = text;
using text::measure;
