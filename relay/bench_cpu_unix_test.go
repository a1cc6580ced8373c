//go:build unix

package relay_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used. Benchmarks report it
// per op as cpu-ns/op: on a shared machine wall time (ns/op) also counts the time the
// benchmark waited for a CPU, process CPU time does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
