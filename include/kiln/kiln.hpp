// kiln — the one header users include.
#pragma once

#include "kiln/array.hpp"
#include "kiln/device.hpp"
#include "kiln/dtype.hpp"
#include "kiln/error.hpp"
#include "kiln/function.hpp"
#include "kiln/grad.hpp"
#include "kiln/half.hpp"
#include "kiln/tensor.hpp"
