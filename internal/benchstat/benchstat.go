// Package benchstat holds the statistics and machine readings the bench
// subcommands share: the median of repeated timings, the process's CPU
// time, the busy CPU time of the whole machine (to wait for a quiet
// machine and report the noise of a measurement) and the commit measured.
package benchstat

import (
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Median returns the median of x (the mean of the two middle values for an
// even count; 0 when x is empty). x is not modified.
func Median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// CPUSeconds returns the CPU time (user + system) the process has used, in
// seconds (0 when unavailable).
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// MachineBusy returns the busy CPU seconds of the whole machine from
// /proc/stat (-1 if unavailable).
func MachineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	var total, idle float64
	for i, x := range f[1:9] {
		v, _ := strconv.ParseFloat(x, 64)
		total += v
		if i == 3 || i == 4 {
			idle += v
		}
	}
	return (total - idle) / 100 // USER_HZ
}

// WaitQuiet waits (at most max) until the machine's other processes use
// less than 0.2 core over half a second.
func WaitQuiet(max time.Duration) {
	end := time.Now().Add(max)
	for time.Now().Before(end) {
		b0, c0 := MachineBusy(), CPUSeconds()
		if b0 < 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
		if (MachineBusy()-b0)-(CPUSeconds()-c0) < 0.1 {
			return
		}
	}
}

// Commit returns the VCS revision the binary was built from (7 characters,
// "+dirty" when the tree was modified), or "unknown".
func Commit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if len(rev) > 7 {
			return rev[:7] + dirty
		}
	}
	return "unknown"
}
