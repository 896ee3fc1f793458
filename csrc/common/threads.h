// A small persistent thread pool for the kernels: created lazily on the first multi-threaded call,
// grown on demand, never torn down (its threads sleep on a condition variable between calls), so
// batch-1 inference does not pay thread creation per call.
//
// parallel_for(n_tasks, fn, threads) runs fn(0) ... fn(n_tasks - 1) on the calling thread plus up
// to threads - 1 pool workers and returns when all are done. Workers and the caller spin briefly
// before sleeping, so consecutive calls skip the futex round trip. Workers take tasks as they come
// free; once the caller runs out of tasks it closes the job, and a worker that has not joined by
// then (still waking up) skips it: the caller waits only for tasks in progress, never for a
// wake-up, so even small jobs can be split without risking a slow call. One call uses the pool at
// a time: a call that finds the pool busy (another Python thread is inside a kernel) runs all its
// tasks on its own thread instead of waiting, so concurrent callers never deadlock and never
// share state. A task that throws (a failed allocation, say) does not end the process: the first
// exception is kept, the other tasks run to the end, and parallel_for rethrows it on the caller.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/checked.h"

namespace onebit {

inline constexpr int kMaxThreads = 256;

inline int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(std::min<unsigned>(n, kMaxThreads));
}

// The thread count used when a kernel is given threads = 0.
inline std::atomic<int>& default_threads() {
  static std::atomic<int> threads{hardware_threads()};
  return threads;
}

inline int resolve_threads(int threads) {
  return std::clamp(threads > 0 ? threads : default_threads().load(), 1, kMaxThreads);
}

// Workers and callers busy-wait briefly (plain atomic loads) before sleeping: back-to-back kernel
// calls (layer after layer) then hand work over without a futex round trip. No PAUSE hint in the
// loop: under KVM, pause-loop exiting deschedules a vCPU that pauses repeatedly, which measured
// ~0.8 ms per call on the 2-vCPU development VM.
inline void spin_relax() { std::atomic_signal_fence(std::memory_order_seq_cst); }

class ThreadPool {
 public:
  using Task = std::function<void(std::int64_t)>;

  // The process-wide pool. Intentionally leaked: joining threads during interpreter shutdown
  // (static destruction) is a classic source of hangs.
  static ThreadPool& instance() {
    static ThreadPool* pool = new ThreadPool();
    return *pool;
  }

  void parallel_for(std::int64_t n_tasks, const Task& fn, int threads) {
    const std::int64_t helpers = std::min<std::int64_t>(threads, n_tasks) - 1;
    if (helpers <= 0) return run_inline(n_tasks, fn);
    std::unique_lock<std::mutex> submit(submit_mutex_, std::try_to_lock);
    if (!submit.owns_lock()) return run_inline(n_tasks, fn);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (static_cast<std::int64_t>(workers_.size()) < helpers) {
        const int index = static_cast<int>(workers_.size());
        const std::uint64_t now = current_job();
        workers_.emplace_back([this, index, now] { worker_loop(index, now); });
      }
      // The job fields are published by the release store of state_ below (to spinning workers)
      // and by the mutex (to sleeping ones); only workers that join the job read them.
      fn_ = &fn;
      helpers_ = static_cast<int>(helpers);
      for (std::int64_t i = 0; i <= helpers; ++i) {
        ranges_[i].next.store(n_tasks * i / (helpers + 1), std::memory_order_relaxed);
        ranges_[i].end = n_tasks * (i + 1) / (helpers + 1);
      }
      finished_.store(0, std::memory_order_relaxed);
      state_.store((current_job() + 1) << kJobShift, std::memory_order_release);
    }
    wake_.notify_all();
    work(0);
    // Close the job: a worker that has not joined by now (asleep, or not yet scheduled) skips
    // it, so the caller never waits for a wake-up that would only find the tasks all done.
    const std::uint64_t joined = state_.fetch_or(kClosed, std::memory_order_acq_rel) & kJoinedMask;
    for (int spin = 0; spin < kSpins && finished_.load(std::memory_order_acquire) != joined; ++spin)
      spin_relax();
    if (finished_.load(std::memory_order_acquire) != joined) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == joined; });
    }
    fn_ = nullptr;
    if (error_) {
      std::exception_ptr error = std::exchange(error_, nullptr);
      std::rethrow_exception(error);
    }
  }

 private:
  static constexpr int kSpins = 1 << 16;  // ~20 us of atomic loads; 1 << 14 was too short
  // Workers wait longer than callers: between two layers of a network the calling thread runs
  // Python for tens of microseconds, and a worker that has gone to sleep costs a futex wake-up
  // (under KVM an inter-processor interrupt, ~50-100 us) on every layer. ~150 us of spinning
  // bridges those gaps; after a network's last layer the worker sleeps.
  static constexpr int kWorkerSpins = 1 << 19;
  // state_: the job number above kJobShift, a closed flag, the count of workers that joined.
  static constexpr int kJobShift = 32;
  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 31;
  static constexpr std::uint64_t kJoinedMask = kClosed - 1;

  ThreadPool() = default;

  static void run_inline(std::int64_t n_tasks, const Task& fn) {
    for (std::int64_t i = 0; i < n_tasks; ++i) fn(i);
  }

  // Runs the tasks of range `slot`, then takes what is left of the others'. Each participant
  // starting on its own contiguous range keeps consecutive layers' work on the same core: the
  // caller (slot 0) runs the first rows of every layer, the first worker the next ones, so a
  // layer mostly reads the part of the previous layer's output that its own core wrote.
  void work(int slot) {
    const int n_ranges = helpers_ + 1;
    for (int k = 0; k < n_ranges; ++k) {
      Range& range = ranges_[(slot + k) % n_ranges];
      for (std::int64_t i = range.next.fetch_add(1); i < range.end; i = range.next.fetch_add(1))
        run_task(i);
    }
  }

  // Runs task i, keeping its exception (the first of the job) for the caller to rethrow: one
  // escaping a worker thread would end the process, one escaping the caller's share would leave
  // the workers running a task whose function is gone.
  void run_task(std::int64_t i) {
    try {
      (*fn_)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }

  std::uint64_t current_job() const { return state_.load(std::memory_order_acquire) >> kJobShift; }

  // Joins job `job` unless it is closed or over; true if joined.
  bool join(std::uint64_t job) {
    std::uint64_t state = state_.load(std::memory_order_acquire);
    while ((state >> kJobShift) == job && (state & kClosed) == 0) {
      if (state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) return true;
    }
    return false;
  }

  void worker_loop(int index, std::uint64_t seen) {
    for (;;) {
      int spin = 0;
      while (spin < kWorkerSpins && current_job() == seen) {
        spin_relax();
        ++spin;
      }
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return current_job() != seen; });
        seen = current_job();
        if (index >= helpers_) continue;  // this job needs fewer helpers
      }
      if (!join(seen)) continue;  // done without this worker
      work(index + 1);  // worker i always starts on range i + 1: the same rows layer after layer
      if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 ==
          (state_.load(std::memory_order_acquire) & kJoinedMask)) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::mutex submit_mutex_;  // held by the one call that owns the pool
  std::mutex mutex_;         // guards the job fields below and the worker list
  std::condition_variable wake_;
  std::condition_variable done_;
  std::vector<std::thread> workers_;
  struct alignas(64) Range {  // a participant's tasks [next, end), one per cache line
    std::atomic<std::int64_t> next{0};
    std::int64_t end = 0;
  };
  const Task* fn_ = nullptr;
  int helpers_ = 0;
  std::mutex error_mutex_;
  std::exception_ptr error_;  // the first exception of the current job
  std::unique_ptr<Range[]> ranges_{new Range[kMaxThreads]};
  std::atomic<std::uint64_t> finished_{0};  // joined workers that are done with the job
  std::atomic<std::uint64_t> state_{0};
};

inline void parallel_for(std::int64_t n_tasks, const ThreadPool::Task& fn, int threads) {
  ThreadPool::instance().parallel_for(n_tasks, fn, threads);
}

// Runs fn(row_begin, row_end) over `rows` rows in about `threads` chunks.
// row_cost: the floats (or values) a row touches. Chunks get at least kMinCostPerThread of them,
// a few microseconds of work: a pool worker still spinning after the previous layer joins in
// about a microsecond (common/threads.h), so the split pays off well below the cost of waking one.
template <typename Fn>
inline void for_row_chunks(std::int64_t rows, std::int64_t row_cost, int threads, Fn fn) {
  constexpr std::int64_t kMinCostPerThread = std::int64_t{1} << 15;
  const std::int64_t useful =
      std::max<std::int64_t>(1, saturating_mul(rows, row_cost) / kMinCostPerThread);
  const std::int64_t tasks = std::max<std::int64_t>(1, std::min<std::int64_t>({threads, useful, rows}));
  if (tasks == 1) return fn(0, rows);
  parallel_for(
      tasks, [&](std::int64_t t) { fn(rows * t / tasks, rows * (t + 1) / tasks); },
      static_cast<int>(tasks));
}

}  // namespace onebit
