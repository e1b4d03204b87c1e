package dataplane

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// TuningEnv names the environment variable that turns the pipeline's levers
// off for measurements (bench/throughput.sh compares them), a
// comma-separated list:
//
//	serial      no crypto workers: the readers seal and open (Workers < 0)
//	workers=N   N crypto goroutines
//	nooffload   no UDP GSO/GRO on the NAT-T socket (NoOffload)
//
// It is read by New and overrides Config; unknown words are an error.
const TuningEnv = "GOIPSEC_DATAPLANE"

// applyTuning applies TuningEnv's value v to cfg.
func applyTuning(cfg *Config, v string) error {
	for _, w := range strings.Split(v, ",") {
		w = strings.TrimSpace(w)
		switch {
		case w == "":
		case w == "serial":
			cfg.Workers = -1
		case w == "nooffload":
			cfg.NoOffload = true
		case strings.HasPrefix(w, "workers="):
			n, err := strconv.Atoi(strings.TrimPrefix(w, "workers="))
			if err != nil || n < 1 || n > 1024 {
				return fmt.Errorf("dataplane: %s: %q: want workers=1..1024", TuningEnv, w)
			}
			cfg.Workers = n
		default:
			return fmt.Errorf("dataplane: %s: unknown option %q (want serial, workers=N, nooffload)", TuningEnv, w)
		}
	}
	return nil
}

func tuningFromEnv(cfg *Config) error {
	v, ok := os.LookupEnv(TuningEnv)
	if !ok {
		return nil
	}
	if err := applyTuning(cfg, v); err != nil {
		return err
	}
	cfg.Logger.Info("data plane tuning from the environment", "env", TuningEnv, "value", v,
		"workers", cfg.Workers, "no_offload", cfg.NoOffload)
	return nil
}
