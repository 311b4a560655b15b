package bench

import (
	"syscall"
	"time"
)

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}

// cpuMeter measures the CPU time the process spends on a drain, per
// request.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{start: processCPU()} }

// perRequestUS returns the CPU time used since the meter started, in
// microseconds per request of n.
func (m cpuMeter) perRequestUS(n int) float64 {
	if n <= 0 {
		return 0
	}
	return float64(processCPU()-m.start) / float64(time.Microsecond) / float64(n)
}
