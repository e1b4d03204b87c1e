// Package daemon wires the configuration, the IKE engine, the data plane
// and the VICI control socket into the goipsec daemon, and owns its
// life cycle: start-up, start_action, and a shutdown that tells every peer.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/dataplane"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/keylog"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/vici"
)

// Version is goipsec's version, reported by VICI "version".
var Version = "0.1.0-dev"

// DefaultControlPath is where the VICI socket lives unless told otherwise.
const DefaultControlPath = "/run/goipsec/vici.sock"

// Options configure a Daemon.
type Options struct {
	ConfigPath  string
	ControlPath string // default DefaultControlPath
	TUNName     string // default dataplane.DefaultTUNName
	IKEPort     int    // default 500
	NATTPort    int    // default 4500
	Logger      *slog.Logger
	// KeyLogDir, if set, receives Wireshark's ikev2_decryption_table and
	// esp_sa files with every key (debugging only: anyone who reads them
	// can decrypt the traffic).
	KeyLogDir string
	// ShutdownTimeout bounds how long shutdown waits for peers to
	// acknowledge our DELETEs.
	ShutdownTimeout time.Duration
	// FragmentSize is the largest IP datagram of an IKE fragment (RFC
	// 7383; strongSwan's charon.fragment_size); 0 means 1280.
	FragmentSize int
}

// Daemon is a running goipsec daemon.
type Daemon struct {
	opts   Options
	log    *slog.Logger
	cfg    atomic.Pointer[config.Config]
	engine *ike.Engine
	dp     *dataplane.Dataplane
	vici   *vici.Server
	ln     net.Listener
	keylog *keylog.Writer
	wg     sync.WaitGroup
	start  time.Time
}

// New loads the configuration and opens everything the daemon needs (TUN,
// UDP ports, control socket). Errors are one line, fit for a terminal.
func New(ctx context.Context, opts Options) (*Daemon, error) {
	if opts.ControlPath == "" {
		opts.ControlPath = DefaultControlPath
	}
	if opts.TUNName == "" {
		opts.TUNName = dataplane.DefaultTUNName
	}
	if opts.IKEPort == 0 {
		opts.IKEPort = dataplane.DefaultIKEPort
	}
	if opts.NATTPort == 0 {
		opts.NATTPort = dataplane.DefaultNATTPort
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 3 * time.Second
	}
	d := &Daemon{opts: opts, log: opts.Logger, start: time.Now()}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	peers, err := peersFromConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d.cfg.Store(cfg)

	var kl ike.KeyLogger
	if opts.KeyLogDir != "" {
		if d.keylog, err = keylog.Open(opts.KeyLogDir); err != nil {
			return nil, err
		}
		kl = d.keylog
		d.log.Warn("KEY LOGGING IS ON: every IKE and ESP key is written to "+opts.KeyLogDir+
			"; anyone who can read it can decrypt this host's IPsec traffic. Use for debugging only.",
			"dir", opts.KeyLogDir)
	}

	db := &sadb.DB{}
	d.engine = ike.New(ike.Config{
		KeyLog:       kl,
		Peers:        peers,
		SharedKey:    sharedKey(d.cfg.Load),
		Logger:       d.log.With("subsys", "ike"),
		NATTPort:     uint16(opts.NATTPort),
		FragmentSize: opts.FragmentSize,
		Send: func(local, remote netip.AddrPort, pkt []byte) error {
			return d.dp.SendIKE(local, remote, pkt)
		},
	})
	d.dp, err = dataplane.New(dataplane.Config{
		TUNName:   opts.TUNName,
		IKEPort:   opts.IKEPort,
		NATTPort:  opts.NATTPort,
		Logger:    d.log.With("subsys", "dataplane"),
		HandleIKE: d.engine.HandlePacket,
		DB:        db,
	})
	if err != nil {
		d.closeKeyLog()
		return nil, err
	}
	d.engine.SetInstaller(d.dp)
	d.ln, err = vici.Listen(opts.ControlPath)
	if err != nil {
		d.dp.Close()
		d.closeKeyLog()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	d.vici = vici.NewServer(d.log.With("subsys", "vici"))
	d.registerVICI()
	return d, nil
}

// Run serves until ctx is cancelled, then shuts down: every IKE SA is
// deleted with a DELETE to its peer, the TUN and sockets are closed.
func (d *Daemon) Run(ctx context.Context) error {
	d.dp.Start()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.vici.Serve(d.ln); err != nil {
			d.log.Error("control socket failed", "err", err)
		}
	}()
	d.log.Info("goipsec daemon started", "version", Version, "config", d.opts.ConfigPath,
		"control", d.opts.ControlPath, "tun", d.dp.TUNName(), "connections", len(d.engine.Peers()))
	d.startActions(ctx)
	<-ctx.Done()
	return d.shutdown()
}

// startActions initiates the children configured with start_action=start.
func (d *Daemon) startActions(ctx context.Context) {
	for _, p := range d.engine.Peers() {
		for _, c := range p.Children {
			if c.StartAction != "start" {
				continue
			}
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				if err := d.engine.Initiate(ctx, p.Name, c.Name); err != nil && !errors.Is(err, context.Canceled) {
					d.log.Warn("start_action=start failed", "conn", p.Name, "child", c.Name, "err", err)
				}
			}()
		}
	}
}

func (d *Daemon) shutdown() error {
	d.log.Info("shutting down: deleting SAs")
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.ShutdownTimeout)
	defer cancel()
	d.engine.Close(ctx)
	err := d.vici.Close()
	d.wg.Wait()
	if cerr := d.dp.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	d.closeKeyLog()
	d.log.Info("goipsec daemon stopped")
	return err
}

func (d *Daemon) closeKeyLog() {
	if d.keylog != nil {
		d.keylog.Close()
	}
}
