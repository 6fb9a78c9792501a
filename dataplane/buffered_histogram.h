#pragma once

#include <prometheus/family.h>
#include <prometheus/histogram.h>

#include <vector>

namespace jsontcplb {

/// A histogram the data-plane thread observes into without a lock. prometheus::Histogram
/// takes a mutex on every Observe (to stay consistent with a concurrent scrape); here
/// observations gather in plain per-bucket counts owned by one thread, and flush() hands them to
/// the registry's histogram in one locked call. Only the thread that observes may flush.
class BufferedHistogram {
 public:
  /// Adds an unlabelled histogram with these upper bounds (ascending) to `family`.
  BufferedHistogram(prometheus::Family<prometheus::Histogram>& family, std::vector<double> bounds);

  void observe(double value);
  /// Publishes what was observed since the last flush; a no-op when nothing was.
  void flush();

 private:
  std::vector<double> bounds_;
  prometheus::Histogram& histogram_;
  std::vector<double> counts_;  // per bucket, not cumulative; the last one is +Inf
  double sum_ = 0;
  bool pending_ = false;
};

}  // namespace jsontcplb
