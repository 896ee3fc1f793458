// A small persistent thread pool for the kernels: created lazily on the first multi-threaded call,
// grown on demand, never torn down (its threads sleep on a condition variable between calls), so
// batch-1 inference does not pay thread creation per call.
//
// parallel_for(n_tasks, fn, threads) runs fn(0) ... fn(n_tasks - 1) on the calling thread plus up
// to threads - 1 pool workers and returns when all are done. Workers and the caller spin briefly
// before sleeping, so consecutive calls skip the futex round trip. One call uses the pool at a
// time: a call that finds the pool busy (another Python thread is inside a kernel) runs all its
// tasks on its own thread instead of waiting, so concurrent callers never deadlock and never
// share state.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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
        const std::uint64_t now = generation_.load();
        workers_.emplace_back([this, index, now] { worker_loop(index, now); });
      }
      // The job fields are published by the release increment of generation_ below (spinning
      // workers) and by the mutex (sleeping ones).
      fn_ = &fn;
      n_tasks_ = n_tasks;
      next_.store(0, std::memory_order_relaxed);
      helpers_ = static_cast<int>(helpers);
      active_.store(static_cast<int>(helpers), std::memory_order_relaxed);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    for (int spin = 0; spin < kSpins && active_.load(std::memory_order_acquire) != 0; ++spin)
      spin_relax();
    if (active_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [this] { return active_.load(std::memory_order_acquire) == 0; });
    }
    fn_ = nullptr;
  }

 private:
  static constexpr int kSpins = 1 << 16;  // ~20 us of atomic loads; 1 << 14 was too short
  // Workers wait longer than callers: between two layers of a network the calling thread runs
  // Python for tens of microseconds, and a worker that has gone to sleep costs a futex wake-up
  // (under KVM an inter-processor interrupt, ~50-100 us) on every layer. ~150 us of spinning
  // bridges those gaps; after a network's last layer the worker sleeps.
  static constexpr int kWorkerSpins = 1 << 19;

  ThreadPool() = default;

  static void run_inline(std::int64_t n_tasks, const Task& fn) {
    for (std::int64_t i = 0; i < n_tasks; ++i) fn(i);
  }

  void work() {
    for (std::int64_t i = next_.fetch_add(1); i < n_tasks_; i = next_.fetch_add(1)) (*fn_)(i);
  }

  void worker_loop(int index, std::uint64_t seen) {
    for (;;) {
      int spin = 0;
      while (spin < kWorkerSpins && generation_.load(std::memory_order_acquire) == seen) {
        spin_relax();
        ++spin;
      }
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        seen = generation_.load(std::memory_order_acquire);
        if (index >= helpers_) continue;  // this job needs fewer helpers
      }
      work();
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
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
  const Task* fn_ = nullptr;
  std::int64_t n_tasks_ = 0;
  std::atomic<std::int64_t> next_{0};
  int helpers_ = 0;
  std::atomic<int> active_{0};
  std::atomic<std::uint64_t> generation_{0};
};

inline void parallel_for(std::int64_t n_tasks, const ThreadPool::Task& fn, int threads) {
  ThreadPool::instance().parallel_for(n_tasks, fn, threads);
}

}  // namespace onebit
