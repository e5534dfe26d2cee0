#pragma once
#define LIMIT 20
