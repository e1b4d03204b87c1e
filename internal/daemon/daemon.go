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
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goipsec/goipsec/internal/config"
	"github.com/goipsec/goipsec/internal/dataplane"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/keylog"
	"github.com/goipsec/goipsec/internal/metrics"
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
	// MetricsAddr, if set, is the TCP address of the Prometheus endpoint
	// (http://ADDR/metrics), e.g. "127.0.0.1:9814" or ":9814".
	MetricsAddr string
	// FragmentSize is the largest IP datagram of an IKE fragment (RFC
	// 7383; strongSwan's charon.fragment_size); 0 means 1280.
	FragmentSize int
	// RetransmitTimeout and RetransmitTries are the IKE retransmission
	// schedule (RFC 7296 2.4: the first timeout, doubled on every try, and
	// the number of retransmissions before giving up); 0 means 1 s and 5.
	// They also bound how long a dead peer takes to notice (dpd_delay).
	RetransmitTimeout time.Duration
	RetransmitTries   int
	// KeepAlive is the NAT-keepalive interval (RFC 3948 4; strongSwan's
	// charon.keep_alive): 0 turns keepalives off (`goipsec daemon`
	// defaults to 20 s, like charon).
	KeepAlive time.Duration
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

	// changeMu serialises configuration changes (reload, load-conn, ...);
	// store holds the file and VICI layers, cfg their effective merge.
	changeMu sync.Mutex
	store    *store
	effConns map[string]*config.Connection // the running connections by name
	effPeers map[string]*ike.PeerConfig    // and their engine peers
	pools    poolSet                       // the running address pools

	pols      *policyState // trap and shunt policies (trap.go)
	events    *eventHub
	updown    *updownRunner
	updownIx  atomic.Pointer[updownIndex] // updown.go
	metrics   *metrics.Metrics
	metricsLn net.Listener
	logTee    *logTee

	// runCtx lives from New until shutdown: background initiations
	// (start_action, reload) use it.
	runCtx    context.Context
	runCancel context.CancelFunc
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
	d := &Daemon{opts: opts, start: time.Now(), pols: newPolicyState()}
	d.logTee = newLogTee(opts.Logger.Handler())
	d.log = slog.New(d.logTee)
	file, err := config.Load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	d.store = newStore(file)
	cfg := d.store.effective()
	peers, pools, err := peersAndPools(ctx, cfg, credsOnce(d.store.credentials), nil)
	if err != nil {
		return nil, err
	}
	d.pools = pools
	pools.logLimited(d.log, nil)
	d.cfg.Store(cfg)
	d.events = newEventHub(d)
	d.updown = newUpdownRunner(d.log.With("subsys", "updown"), d.updownCommand)
	if opts.MetricsAddr != "" {
		d.metrics = metrics.New(d.metricsSnapshot)
		if d.metricsLn, err = net.Listen("tcp", opts.MetricsAddr); err != nil {
			return nil, fmt.Errorf("--metrics: %w", err)
		}
	}
	d.runCtx, d.runCancel = context.WithCancel(context.Background())

	var kl ike.KeyLogger
	if opts.KeyLogDir != "" {
		if d.keylog, err = keylog.Open(opts.KeyLogDir); err != nil {
			d.closeEarly()
			return nil, err
		}
		kl = d.keylog
		d.log.Warn("KEY LOGGING IS ON: every IKE and ESP key is written to "+opts.KeyLogDir+
			"; anyone who can read it can decrypt this host's IPsec traffic. Use for debugging only.",
			"dir", opts.KeyLogDir)
	}

	db := &sadb.DB{}
	d.engine = ike.New(ike.Config{
		KeyLog:            kl,
		Peers:             peers,
		SharedKey:         sharedKey(d.cfg.Load),
		Logger:            d.log.With("subsys", "ike"),
		NATTPort:          uint16(opts.NATTPort),
		Events:            d.events,
		Trap:              d.onTrapAction,
		FragmentSize:      opts.FragmentSize,
		RetransmitTimeout: opts.RetransmitTimeout,
		RetransmitTries:   opts.RetransmitTries,
		Send: func(local, remote netip.AddrPort, pkt []byte) error {
			return d.dp.SendIKE(local, remote, pkt)
		},
		KeepAlive: opts.KeepAlive,
		SendKeepalive: func(local, remote netip.AddrPort) error {
			return d.dp.SendKeepalive(local, remote)
		},
	})
	d.dp, err = dataplane.New(dataplane.Config{
		TUNName:   opts.TUNName,
		IKEPort:   opts.IKEPort,
		NATTPort:  opts.NATTPort,
		Logger:    d.log.With("subsys", "dataplane"),
		HandleIKE: d.engine.HandlePacket,
		DB:        db,
		Acquire:   d.onAcquire,
	})
	if err != nil {
		d.closeEarly()
		return nil, err
	}
	d.engine.SetInstaller(d.dp)
	d.index(cfg, peers)
	want, err := wantPolicies(cfg, d.effPeers)
	if err == nil {
		err = d.syncPolicies(want)
	}
	if err != nil {
		d.dp.Close()
		d.closeEarly()
		return nil, err
	}
	d.ln, err = vici.Listen(opts.ControlPath)
	if err != nil {
		d.dp.Close()
		d.closeEarly()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	d.vici = vici.NewServer(d.log.With("subsys", "vici"))
	d.registerVICI()
	d.logTee.server.Store(d.vici)
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
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.events.run(d.runCtx)
	}()
	d.wg.Add(1)
	go d.runAcquires()
	go d.updown.loop()
	var msrv *http.Server
	if d.metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", d.metrics.Handler())
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := msrv.Serve(d.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("metrics endpoint failed", "err", err)
			}
		}()
	}
	d.log.Info("goipsec daemon started", "version", Version, "config", d.opts.ConfigPath,
		"control", d.opts.ControlPath, "tun", d.dp.TUNName(), "connections", len(d.engine.Peers()),
		"metrics", d.opts.MetricsAddr)
	d.changeMu.Lock()
	for _, p := range d.engine.Peers() {
		d.initiateStart(p)
	}
	d.changeMu.Unlock()
	<-ctx.Done()
	if msrv != nil {
		msrv.Close()
	}
	return d.shutdown()
}

func (d *Daemon) shutdown() error {
	d.log.Info("shutting down: deleting SAs")
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.ShutdownTimeout)
	defer cancel()
	// No new background work from here on (initiateStart checks runCtx
	// under changeMu).
	d.changeMu.Lock()
	d.runCancel()
	d.changeMu.Unlock()
	d.engine.Close(ctx)
	err := d.vici.Close()
	d.wg.Wait()
	d.updown.close() // the downs of the tunnels just deleted
	if cerr := d.dp.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	d.closeKeyLog()
	d.log.Info("goipsec daemon stopped")
	return err
}

// closeEarly releases what New opened before it failed.
func (d *Daemon) closeEarly() {
	if d.metricsLn != nil {
		d.metricsLn.Close()
	}
	d.closeKeyLog()
}

func (d *Daemon) closeKeyLog() {
	if d.keylog != nil {
		d.keylog.Close()
	}
}
