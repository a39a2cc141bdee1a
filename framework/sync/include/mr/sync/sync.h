// The sync layer in one include: process-shared Lock, RLock, Semaphore,
// BoundedSemaphore, Event, Condition and Barrier, the counterparts of
// Python's multiprocessing synchronization primitives. Each keeps its state
// in shared memory, so a fork()ed child uses the very object it inherited;
// all are thread-safe and fork-safe. See each header for its contract.
#pragma once

#include "mr/sync/barrier.h"
#include "mr/sync/condition.h"
#include "mr/sync/event.h"
#include "mr/sync/lock.h"
#include "mr/sync/semaphore.h"
#include "mr/sync/shared_state.h"
