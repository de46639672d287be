// src/core/sync.cc: Lock, RLock, Condition, Event, Semaphore, Barrier shared by every interpreter.
#include "manycore/sync.h"

#include <string>

#include "futex_wait.h"
#include "wait.h"
#include "wait_list.h"

namespace manycore {
namespace internal {

uint64_t current_thread_token() {
  static std::atomic<uint64_t> next{1};
  thread_local const uint64_t token = next.fetch_add(1, std::memory_order_relaxed);
  return token;
}

}  // namespace internal

namespace {

// The spin before parking, in two parts (measured with `bench shared` ping-pong and
// benchmarks/cpp/shared_floor on the 2-vCPU target machine; docs/shared.md):
// - kHeldSpin with the caller's GIL still held: a lock guarding a few statements, or
//   a hand-off between two running interpreters, frees up within a microsecond or two,
//   and releasing and retaking the GIL would cost about as much. A holder that needs
//   this very GIL delays its release by at most this long.
// - then kReleasedSpin with the GIL released, covering a waker's wake-up: a parked
//   thread on an idle vCPU takes 20-25 us to run again, so a peer that parked once
//   hands back within ~25 us. With 0 us here, one parked side made the other park in
//   turn (ping-pong median 6.8 us per round trip); 10 us: 1.0 us; 25, 50 and 100 us:
//   0.20-0.27 us. 50 us is twice the wake-up, and past it the spin only burns the core.
// Both spin only with a second usable CPU (futex_wait.h), and only while SpinHint says
// spinning pays.
constexpr auto kHeldSpin = std::chrono::microseconds(3);
constexpr auto kReleasedSpin = std::chrono::microseconds(50);

// Held spin, released spin, then the futex park of futex_wait.h. holder_cpu() is where
// the thread that will release probably runs (-1: unknown): a spin ends at once when
// that is this thread's CPU, and parking lets that thread run.
template <typename LooksFree, typename Attempt, typename HolderCpu>
Status acquire_slow(internal::SpinHint& hint, std::atomic<uint32_t>& sequence, std::atomic<int>& parked,
                    LooksFree looks_free, Attempt attempt, HolderCpu holder_cpu,
                    std::optional<double> timeout_seconds) {
  using internal::SpinOutcome;
  auto deadline = internal::deadline_after(timeout_seconds);
  bool spin = internal::spinning_can_win() && hint.should_spin();
  SpinOutcome outcome = SpinOutcome::kLost;
  if (spin) {
    outcome = internal::spin_for(kHeldSpin, deadline, looks_free, attempt, holder_cpu);
    if (outcome == SpinOutcome::kWon) {
      hint.record(true);
      return Status::Ok();  // the GIL was never released
    }
  }
  internal::GilRelease released;
  // A spin cut short by the deadline or by a holder on this CPU says nothing about
  // whether spinning pays: only a full spin that lost is recorded.
  bool expired = deadline && internal::Clock::now() >= *deadline;
  if (spin && outcome == SpinOutcome::kLost && !expired) {
    outcome = internal::spin_for(kReleasedSpin, deadline, looks_free, attempt, holder_cpu);
    if (outcome == SpinOutcome::kWon) {
      hint.record(true);
      return Status::Ok();
    }
    if (outcome == SpinOutcome::kLost && !(deadline && internal::Clock::now() >= *deadline)) hint.record(false);
  }
  return internal::park_on_sequence(sequence, parked, attempt, deadline, released);
}

}  // namespace

// ---- Lock ---------------------------------------------------------------------------------

bool Lock::try_acquire() {
  int expected = 0;
  if (!state_.compare_exchange_strong(expected, internal::current_cpu() + 2, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    return false;
  }
  holder_.store(internal::current_thread_tag(), std::memory_order_relaxed);
  return true;
}

// Where the thread that will release probably runs: the holder's CPU when the holder
// is another thread; when the waiter holds the lock itself, it uses the lock as a
// signal that another thread releases (a ping-pong), and the last releaser's CPU is
// the guess.
int Lock::releaser_cpu() const {
  if (holder_.load(std::memory_order_relaxed) == internal::current_thread_tag()) {
    return last_releaser_cpu_.load(std::memory_order_relaxed);
  }
  return state_.load(std::memory_order_relaxed) - 2;
}

Status Lock::acquire(std::optional<double> timeout_seconds) {
  if (try_acquire()) return Status::Ok();
  if (timeout_seconds && *timeout_seconds <= 0) return Status(StatusCode::kTimeout, "the lock is held");
  return acquire_slow(
      spin_hint_, sequence_, parked_, [this] { return state_.load(std::memory_order_relaxed) == 0; },
      [this] { return try_acquire(); }, [this] { return releaser_cpu(); },
      timeout_seconds);
}

Status Lock::release() {
  if (state_.exchange(0, std::memory_order_seq_cst) == 0) {
    return Status(StatusCode::kNotOwner, "release unlocked lock");
  }
  last_releaser_cpu_.store(internal::current_cpu(), std::memory_order_relaxed);
  internal::wake_sequence(sequence_, parked_, 1);
  return Status::Ok();
}

// ---- RLock --------------------------------------------------------------------------------

bool RLock::try_acquire() {
  uint64_t me = internal::current_thread_token();
  if (owner_.load(std::memory_order_relaxed) == me) {
    ++count_;
    return true;
  }
  uint64_t expected = 0;
  if (!owner_.compare_exchange_strong(expected, me, std::memory_order_acquire, std::memory_order_relaxed)) {
    return false;
  }
  count_ = 1;
  owner_cpu_.store(internal::current_cpu(), std::memory_order_relaxed);
  return true;
}

Status RLock::acquire(std::optional<double> timeout_seconds) {
  if (try_acquire()) return Status::Ok();
  if (timeout_seconds && *timeout_seconds <= 0) return Status(StatusCode::kTimeout, "the lock is held");
  return acquire_slow(
      spin_hint_, sequence_, parked_, [this] { return owner_.load(std::memory_order_relaxed) == 0; },
      [this] { return try_acquire(); }, [this] { return owner_cpu_.load(std::memory_order_relaxed); },
      timeout_seconds);
}

Status RLock::release() {
  if (owner_.load(std::memory_order_relaxed) != internal::current_thread_token()) {
    return Status(StatusCode::kNotOwner, "cannot release un-acquired lock");
  }
  if (--count_ != 0) return Status::Ok();
  owner_.store(0, std::memory_order_seq_cst);
  internal::wake_sequence(sequence_, parked_, 1);
  return Status::Ok();
}

Result<uint64_t> RLock::release_all() {
  if (!owned_by_caller()) return Status(StatusCode::kNotOwner, "cannot release un-acquired lock");
  uint64_t count = count_;
  count_ = 1;
  Status released = release();
  if (!released.ok()) return released;
  return count;
}

Status RLock::acquire_restore(uint64_t count) {
  Status acquired = acquire();
  if (!acquired.ok()) return acquired;
  count_ = count;
  return Status::Ok();
}

// ---- Condition ----------------------------------------------------------------------------

Condition::Condition(std::shared_ptr<RLock> lock)
    : rlock_(std::move(lock)), waiters_(std::make_unique<internal::WaitList>()) {}
Condition::Condition(std::shared_ptr<Lock> lock)
    : lock_(std::move(lock)), waiters_(std::make_unique<internal::WaitList>()) {}
Condition::~Condition() = default;

std::shared_ptr<Shareable> Condition::lock() const {
  if (rlock_) return rlock_;
  return lock_;
}

// For a Lock, "held" can only mean "held by someone" (threading's _is_owned does the same).
bool Condition::lock_held() const { return rlock_ ? rlock_->owned_by_caller() : lock_->locked(); }

Result<bool> Condition::wait(std::optional<double> timeout_seconds) {
  if (!lock_held()) return Status(StatusCode::kNotOwner, "cannot wait on un-acquired lock");
  std::shared_ptr<internal::WaitList::Waiter> waiter;
  {
    std::lock_guard lock(waiters_->mutex());
    waiter = waiters_->enlist_locked();
  }
  uint64_t saved_count = 0;
  if (rlock_) {
    Result<uint64_t> released = rlock_->release_all();
    if (!released.ok()) return released.take_status();
    saved_count = released.value();
  } else {
    (void)lock_->release();
  }
  Status waited = waiters_->wait(waiter, internal::deadline_after(timeout_seconds));
  // Take the lock back whatever happened, as threading does. An interrupt raised during
  // this re-acquire is dropped; the first one (if any) is kept.
  PyObject* pending = waited.code() == StatusCode::kInterrupted ? PyErr_GetRaisedException() : nullptr;
  while (true) {
    Status again = rlock_ ? rlock_->acquire_restore(saved_count) : lock_->acquire();
    if (again.ok()) break;
    if (again.code() == StatusCode::kInterrupted) {
      if (pending == nullptr) {
        pending = PyErr_GetRaisedException();
      } else {
        PyErr_Clear();
      }
    }
  }
  if (pending != nullptr) {
    PyErr_SetRaisedException(pending);
    return Status(StatusCode::kInterrupted, "interrupted");
  }
  if (waited.code() == StatusCode::kTimeout) return false;
  if (!waited.ok()) return waited;
  return true;
}

Status Condition::notify(size_t n) {
  if (!lock_held()) return Status(StatusCode::kNotOwner, "cannot notify on un-acquired lock");
  waiters_->notify(n);
  return Status::Ok();
}

Status Condition::notify_all() { return notify(SIZE_MAX); }

// ---- Event --------------------------------------------------------------------------------

void Event::set() {
  std::lock_guard lock(mutex_);
  flag_.store(true, std::memory_order_release);
  cv_.notify_all();
}

void Event::clear() {
  std::lock_guard lock(mutex_);
  flag_.store(false, std::memory_order_release);
}

Result<bool> Event::wait(std::optional<double> timeout_seconds) {
  if (is_set()) return true;
  Status waited = internal::wait_released(
      mutex_, cv_, [this] { return flag_.load(std::memory_order_acquire); }, internal::deadline_after(timeout_seconds));
  if (waited.code() == StatusCode::kTimeout) return false;
  if (!waited.ok()) return waited;
  return true;
}

// ---- Semaphore ----------------------------------------------------------------------------

Result<std::shared_ptr<Semaphore>> Semaphore::create(int64_t value, bool bounded) {
  if (value < 0) return Status(StatusCode::kInvalidArgument, "semaphore initial value must be >= 0");
  return std::make_shared<Semaphore>(value, bounded);
}

bool Semaphore::try_acquire() {
  int64_t value = value_.load(std::memory_order_relaxed);
  while (value > 0) {
    if (value_.compare_exchange_weak(value, value - 1, std::memory_order_acquire, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

Status Semaphore::acquire(std::optional<double> timeout_seconds) {
  if (try_acquire()) return Status::Ok();
  if (timeout_seconds && *timeout_seconds <= 0) return Status(StatusCode::kTimeout, "the semaphore is at zero");
  return acquire_slow(
      spin_hint_, sequence_, parked_, [this] { return value_.load(std::memory_order_relaxed) > 0; },
      [this] { return try_acquire(); }, [] { return -1; }, timeout_seconds);
}

Status Semaphore::release(int64_t n) {
  if (n < 1) return Status(StatusCode::kInvalidArgument, "n must be one or more");
  int64_t value = value_.load(std::memory_order_relaxed);
  while (true) {
    if (bounded_ && value + n > initial_) {
      return Status(StatusCode::kInvalidArgument, "Semaphore released too many times");
    }
    if (value_.compare_exchange_weak(value, value + n, std::memory_order_seq_cst)) break;
  }
  internal::wake_sequence(sequence_, parked_, n > INT32_MAX ? INT32_MAX : static_cast<int>(n));
  return Status::Ok();
}

// ---- Barrier ------------------------------------------------------------------------------

Result<std::shared_ptr<Barrier>> Barrier::create(int64_t parties, Value action, std::optional<double> timeout_seconds) {
  if (parties < 1) return Status(StatusCode::kInvalidArgument, "parties must be > 0");
  return std::make_shared<Barrier>(parties, std::move(action), timeout_seconds);
}

void Barrier::break_locked() {
  broken_.store(true, std::memory_order_release);
  count_.store(0, std::memory_order_release);
  cv_.notify_all();
}

Result<int64_t> Barrier::wait(std::optional<double> timeout_seconds, const ActionRunner& run) {
  if (!timeout_seconds) timeout_seconds = default_timeout_;
  auto deadline = internal::deadline_after(timeout_seconds);
  Status broken_status(StatusCode::kBrokenBarrier, "the barrier is broken");
  int64_t index;
  uint64_t generation;
  uint64_t epoch;
  {
    internal::GilRelease unlocked_gil;  // never block on mutex_ with a GIL held
    std::lock_guard lock(mutex_);
    if (broken_.load(std::memory_order_relaxed)) return broken_status;
    index = count_.load(std::memory_order_relaxed);
    generation = generation_.load(std::memory_order_relaxed);
    epoch = epoch_.load(std::memory_order_relaxed);
    if (index + 1 < parties_) {
      count_.store(index + 1, std::memory_order_release);
    }
  }
  if (index + 1 == parties_) {
    // The last party: nobody else can arrive in this cycle, so the action runs unlocked
    // (it may take long, and it needs this interpreter's GIL).
    Status acted = action_.kind() == Value::Kind::kNone ? Status::Ok() : run(action_);
    internal::GilRelease unlocked_gil;
    std::lock_guard lock(mutex_);
    if (epoch_.load(std::memory_order_relaxed) != epoch || broken_.load(std::memory_order_relaxed)) {
      return broken_status;  // reset or aborted while the action ran
    }
    if (!acted.ok()) {
      break_locked();
      return acted;
    }
    count_.store(0, std::memory_order_release);
    generation_.store(generation + 1, std::memory_order_release);
    cv_.notify_all();
    return index;
  }
  auto passed = [&] { return generation_.load(std::memory_order_acquire) != generation; };
  auto ended = [&] {
    return passed() || epoch_.load(std::memory_order_acquire) != epoch || broken_.load(std::memory_order_acquire);
  };
  Status waited = internal::wait_released(mutex_, cv_, ended, deadline);
  if (!waited.ok()) {
    internal::GilRelease unlocked_gil;
    std::lock_guard lock(mutex_);
    if (passed()) {  // the cycle completed at the deadline; an interrupt is still raised
      if (waited.code() == StatusCode::kTimeout) return index;
      return waited;
    }
    // threading breaks the barrier on a timeout; an interrupt breaks it too, so that
    // the other parties do not wait forever for one that left.
    if (epoch_.load(std::memory_order_relaxed) == epoch) break_locked();
    if (waited.code() == StatusCode::kTimeout) return broken_status;
    return waited;
  }
  if (passed()) return index;
  return broken_status;
}

void Barrier::reset() {
  internal::GilRelease unlocked_gil;
  std::lock_guard lock(mutex_);
  epoch_.fetch_add(1, std::memory_order_release);
  count_.store(0, std::memory_order_release);
  broken_.store(false, std::memory_order_release);
  cv_.notify_all();
}

void Barrier::abort() {
  internal::GilRelease unlocked_gil;
  std::lock_guard lock(mutex_);
  break_locked();
}

}  // namespace manycore
