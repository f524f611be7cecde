// C API over Google Benchmark (see bench_shim.h): registration, batch timing, counters,
// and a reporter that keeps each benchmark's time per iteration for ratios.
#include "bench_shim.h"

#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <string>

struct corio_bench_state {
    benchmark::State *state;
    uint64_t batch;
};

namespace
{

std::map<std::string, double> results;

class RecordingReporter : public benchmark::ConsoleReporter
{
  public:
    void ReportRuns(const std::vector<Run> &runs) override
    {
        ConsoleReporter::ReportRuns(runs);
        for (const Run &run : runs) {
            if (run.error_occurred || run.iterations == 0)
                continue;
            // Aggregates (mean, median...) replace single runs when repetitions are asked.
            if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "mean")
                continue;
            results[run.run_name.str()] =
                run.GetAdjustedRealTime() * 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
        }
    }
};

} // namespace

extern "C" void corio_bench_register(const char *name, void (*fn)(corio_bench_state_t *, void *),
                                     void *arg)
{
    benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &state) {
        corio_bench_state st{&state, 0};
        fn(&st, arg);
    });
}

extern "C" void corio_bench_register_real_time(const char *name,
                                               void (*fn)(corio_bench_state_t *, void *), void *arg)
{
    benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &state) {
        corio_bench_state st{&state, 0};
        fn(&st, arg);
    })->UseRealTime();
}

extern "C" uint64_t corio_bench_start(corio_bench_state_t *st)
{
    st->batch = static_cast<uint64_t>(st->state->max_iterations);
    // The first call starts the timer and accounts for the whole batch.
    if (!st->state->KeepRunningBatch(static_cast<benchmark::IterationCount>(st->batch)))
        return 0;
    return st->batch;
}

extern "C" void corio_bench_stop(corio_bench_state_t *st)
{
    // The second call finds the batch done and stops the timer.
    while (st->state->KeepRunningBatch(static_cast<benchmark::IterationCount>(st->batch))) {
    }
}

extern "C" void corio_bench_counter(corio_bench_state_t *st, const char *name, double value,
                                    int flags)
{
    int f = benchmark::Counter::kDefaults;
    if (flags & CORIO_BENCH_RATE)
        f |= benchmark::Counter::kIsRate;
    if (flags & CORIO_BENCH_PER_ITER)
        f |= benchmark::Counter::kIsIterationInvariant;
    if (flags & CORIO_BENCH_INVERT)
        f |= benchmark::Counter::kInvert;
    st->state->counters[name] =
        benchmark::Counter(value, static_cast<benchmark::Counter::Flags>(f));
}

extern "C" void corio_bench_skip(corio_bench_state_t *st, const char *why)
{
    st->state->SkipWithError(why);
    for (auto _ : *st->state) {
    }
}

extern "C" int corio_bench_main(int argc, char **argv)
{
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    RecordingReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    return 0;
}

extern "C" double corio_bench_result_ns(const char *name)
{
    auto it = results.find(name);
    return it == results.end() ? -1.0 : it->second;
}
