#pragma once

int solo_helper(int x);
