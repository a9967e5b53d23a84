#ifndef EMBER_REDUCE_H
#define EMBER_REDUCE_H

#include "ember_types.h"

#endif
