package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/goipsec/goipsec/internal/demo"
)

func runDemo(args []string) error {
	fs := newFlagSet("demo", "[flags]")
	ikeP := fs.String("ike", "aes256gcm16-prfsha256-x25519", "IKE `proposal` (strongSwan syntax)")
	espP := fs.String("esp", "aes256gcm16", "ESP `proposal` (strongSwan syntax)")
	dur := fs.Duration("duration", 3*time.Second, "how long to push TCP through the tunnel")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demo.Run(ctx, demo.Options{Binary: self, IKEProposal: *ikeP, ESPProposal: *espP, Duration: *dur, Out: os.Stdout})
}
