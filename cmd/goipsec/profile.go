package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// Profiling knobs for benchmarks such as bench/scale.sh (not meant for
// production):
//
//	GOIPSEC_CPUPROFILE=FILE   CPU profile of the whole daemon run, written at exit
//	GOIPSEC_HEAPPROFILE=FILE  heap profile (after a GC), written on each SIGUSR1
const (
	cpuProfileEnv  = "GOIPSEC_CPUPROFILE"
	heapProfileEnv = "GOIPSEC_HEAPPROFILE"
)

// startProfile starts what the environment asks for and returns the
// function that ends it.
func startProfile() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
	}
	if path := os.Getenv(cpuProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
		}
		stops = append(stops, func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	if path := os.Getenv(heapProfileEnv); path != "" {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-usr1:
					if err := writeHeapProfile(path); err != nil {
						fmt.Fprintf(os.Stderr, "goipsec: %s: %v\n", heapProfileEnv, err)
					}
				case <-done:
					return
				}
			}
		}()
		stops = append(stops, func() {
			signal.Stop(usr1)
			close(done)
		})
	}
	return stop, nil
}

// writeHeapProfile writes the live heap to path, atomically (a reader
// waiting for the file never sees half of it).
func writeHeapProfile(path string) error {
	runtime.GC()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
