#pragma once
// Every op of the engine.
#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/conv2d.h"
#include "ops/dropout.h"
#include "ops/gather.h"
#include "ops/linear.h"
#include "ops/loss.h"
#include "ops/norm.h"
#include "ops/pool.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "ops/upsample.h"
