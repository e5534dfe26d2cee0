#pragma once

namespace zoo {

/// A weight in grams.
typedef unsigned long Grams;

/// Names, as the zoo spells them.
using Name = const char *;

template <typename T>
struct Box {
  T value;
};

using BoxedGrams = Box<Grams>;

}  // namespace zoo
