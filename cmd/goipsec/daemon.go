package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/goipsec/goipsec/internal/daemon"
	"github.com/goipsec/goipsec/internal/ike"
)

func runDaemon(args []string) error {
	fs := newFlagSet("daemon", "--config FILE [flags]")
	cfg := fs.String("config", "/etc/swanctl/swanctl.conf", "swanctl.conf `file` to load")
	control := fs.String("control", daemon.DefaultControlPath, "VICI control socket `path`")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log `levels`: debug, info, warn or error, then per subsystem (daemon, ike, dataplane, vici) SUBSYS=LEVEL, e.g. warn,ike=debug")
	tunName := fs.String("tun", "goipsec0", "TUN interface `name`")
	keyLog := fs.String("keylog", "", "write every IKE and ESP key to Wireshark's ikev2_decryption_table and esp_sa files in `dir` (debugging only)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics on http://`ADDR`/metrics (e.g. 127.0.0.1:9814)")
	fragSize := fs.Int("fragment-size", ike.DefaultFragmentSize, "largest IP datagram `octets` of an IKE fragment (RFC 7383), like strongSwan's charon.fragment_size")
	retransmitTimeout := fs.Duration("retransmit-timeout", time.Second, "first IKE retransmission `timeout`, doubled on every try (RFC 7296 2.4)")
	retransmitTries := fs.Int("retransmit-tries", 5, "IKE retransmissions before giving up on the peer")
	keepAlive := fs.Duration("keep-alive", 20*time.Second, "NAT-keepalive `interval` behind a NAT (RFC 3948 4), like strongSwan's charon.keep_alive; 0 turns them off")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q", pos[0])
	}
	if *retransmitTimeout < 100*time.Millisecond || *retransmitTimeout > time.Minute {
		return fmt.Errorf("--retransmit-timeout: want 100ms..1m, not %v", *retransmitTimeout)
	}
	if *retransmitTries < 1 || *retransmitTries > 20 {
		return fmt.Errorf("--retransmit-tries: want 1..20, not %d", *retransmitTries)
	}
	if *fragSize < 576 || *fragSize > 65535 {
		return fmt.Errorf("--fragment-size: want 576..65535, not %d", *fragSize)
	}
	if *keepAlive < 0 {
		return fmt.Errorf("--keep-alive: want 0 (off) or a positive interval, not %v", *keepAlive)
	}
	levels, err := daemon.ParseLogLevels(*logLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	hopts := &slog.HandlerOptions{Level: levels.Min()}
	var h slog.Handler
	switch *logFormat {
	case "text":
		h = slog.NewTextHandler(os.Stderr, hopts)
	case "json":
		h = slog.NewJSONHandler(os.Stderr, hopts)
	default:
		return fmt.Errorf("--log-format: want text or json, not %q", *logFormat)
	}
	logger := slog.New(daemon.LevelHandler(h, levels))
	stopProfile, err := startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := daemon.New(ctx, daemon.Options{
		ConfigPath:        *cfg,
		ControlPath:       *control,
		TUNName:           *tunName,
		KeyLogDir:         *keyLog,
		MetricsAddr:       *metricsAddr,
		FragmentSize:      *fragSize,
		RetransmitTimeout: *retransmitTimeout,
		RetransmitTries:   *retransmitTries,
		KeepAlive:         *keepAlive,
		Logger:            logger,
	})
	if err != nil {
		return err
	}
	// SIGHUP reloads the configuration, as for charon's swanctl users.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				if err := d.Reload(ctx); err != nil {
					logger.Error("reload failed; the running configuration is unchanged", "err", err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return d.Run(ctx)
}
