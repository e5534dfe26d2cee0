#pragma once
#define LIMIT 10
