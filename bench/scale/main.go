// Command scale measures how goipsec copes with many tunnels (issue 5,
// "Scale"): it brings up N IKE SAs, each with its own Child SA, between a
// load generator and one goipsec daemon in two network namespaces, and
// prints the setup rate and the daemon's memory per established tunnel
// (bench/scale.sh adds the data plane's policy lookup cost with N
// policies from BenchmarkOutboundLookup).
//
// Run it as root through bench/scale.sh, which builds the binary:
//
//	sudo bench/scale.sh                 # 1,000 then 10,000 tunnels
//	sudo TUNNELS=2000 bench/scale.sh
//
// The generator is goipsec's own IKE engine (package ike) with one peer
// configuration per tunnel, on the data plane's sockets without a TUN, in
// the left namespace; every tunnel has its own identity (tN.load.test)
// and its own inner address (10.128.0.0/10, one /32 each), so the daemon
// in the right namespace, configured with a single connection for them
// all, narrows each Child SA to that /32 (RFC 7296 2.9) and installs N
// SAs, N policies and N routes. Initiations run a few at a time from one
// source address (the daemon allows 5 half-open SAs per source, RFC 8019).
//
// Memory is read from the daemon: the resident set (VmRSS) and the Go
// heap in use (VICI stats), before the first tunnel and once all are up,
// after a garbage collection settles; the difference divided by N is the
// cost of one tunnel. With GOIPSEC_HEAPPROFILE=FILE in the environment
// the daemon also writes a heap profile there once all tunnels are up,
// and with GOIPSEC_CPUPROFILE=FILE a CPU profile when it exits.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goipsec/goipsec/internal/ctl"
	"github.com/goipsec/goipsec/internal/dataplane"
	"github.com/goipsec/goipsec/internal/ike"
	"github.com/goipsec/goipsec/internal/lab"
	"github.com/goipsec/goipsec/internal/sadb"
	"github.com/goipsec/goipsec/internal/suite"
	"github.com/goipsec/goipsec/internal/ts"
	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

func main() {
	binary := flag.String("binary", "", "goipsec binary to run as the responder (required)")
	counts := flag.String("n", "1000,10000", "comma-separated tunnel counts, one run each")
	parallel := flag.Int("parallel", 4, "initiations in flight at once (the daemon allows 5 half-open SAs per source)")
	ikeP := flag.String("ike", "aes128gcm16-prfsha256-x25519", "IKE proposal")
	espP := flag.String("esp", "aes128gcm16", "ESP proposal")
	cpuProfile := flag.String("cpuprofile", "", "write the generator's CPU profile to `file`")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *binary == "" {
		fmt.Fprintln(os.Stderr, "scale: -binary is required (bench/scale.sh builds it)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("%-8s %10s %12s %14s %14s\n", "tunnels", "setup s", "tunnels/s", "RSS/tunnel", "heap/tunnel")
	for _, f := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4<<20 {
			fmt.Fprintf(os.Stderr, "scale: bad count %q\n", f)
			os.Exit(2)
		}
		r, err := run(ctx, *binary, n, *parallel, *ikeP, *espP)
		if err != nil {
			fmt.Fprintf(os.Stderr, "scale: %d tunnels: %v\n", n, err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		fmt.Printf("%-8d %10.1f %12.0f %10.1f KiB %10.1f KiB\n", n, r.setup.Seconds(),
			float64(n)/r.setup.Seconds(), r.rssPer/1024, r.heapPer/1024)
	}
	fmt.Println("goals (issue 5): 10,000 tunnels in under 60 s, under 10 KiB per tunnel")
}

type result struct {
	setup           time.Duration
	rssPer, heapPer float64
}

const (
	serverID  = "server.load.test"
	serverNet = "10.2.0.0/16"
	clientNet = "10.128.0.0/10"
)

// responderConf is the daemon's configuration: one connection that takes
// every generated peer (any identity, one pre-shared key) and narrows
// its Child SA to the peer's /32.
func responderConf(local, remote netip.Addr, ikeP, espP, psk string) string {
	return fmt.Sprintf(`connections {
    load {
        local_addrs = %s
        remote_addrs = %s
        proposals = %s
        local {
            auth = psk
            id = %s
        }
        remote {
            auth = psk
        }
        children {
            net {
                local_ts = %s
                remote_ts = %s
                esp_proposals = %s
            }
        }
    }
}
secrets {
    ike-load {
        secret = 0x%s
    }
}
`, local, remote, ikeP, serverID, serverNet, clientNet, espP, psk)
}

func run(ctx context.Context, binary string, n, parallel int, ikeP, espP string) (r result, err error) {
	topo, err := lab.NewSiteToSite("goipsec-scale")
	if err != nil {
		return r, err
	}
	defer topo.Close()
	dir, err := os.MkdirTemp("", "goipsec-scale-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	key := make([]byte, 32)
	rand.Read(key)
	conf := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(conf, []byte(responderConf(topo.RightOuter, topo.LeftOuter, ikeP, espP, hex.EncodeToString(key))), 0o600); err != nil {
		return r, err
	}
	control := filepath.Join(dir, "server.sock")
	logPath := filepath.Join(dir, "server.log")
	proc, err := topo.Right.Start(logPath, binary, "daemon", "--config", conf, "--control", control, "--log-level", "warn")
	if err != nil {
		return r, err
	}
	defer proc.Stop()
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n--- daemon log (last lines) ---\n%s", err, tail(logPath, 20))
		}
	}()
	c, err := dialControl(ctx, control)
	if err != nil {
		return r, err
	}
	defer c.Close()
	if err := heapProfile(proc.PID()); err != nil {
		return r, err
	}
	rss0, heap0, err := memory(ctx, c, proc.PID())
	if err != nil {
		return r, err
	}

	gen, err := newGenerator(topo, n, ikeP, espP, key)
	if err != nil {
		return r, err
	}
	defer gen.close()
	start := time.Now()
	if err := gen.initiateAll(ctx, parallel); err != nil {
		return r, err
	}
	r.setup = time.Since(start)
	if err := waitSAs(ctx, c, n); err != nil {
		return r, err
	}
	if err := heapProfile(proc.PID()); err != nil {
		return r, err
	}
	rss1, heap1, err := memory(ctx, c, proc.PID())
	if err != nil {
		return r, err
	}
	r.rssPer = float64(int64(rss1)-int64(rss0)) / float64(n)
	r.heapPer = float64(int64(heap1)-int64(heap0)) / float64(n)
	return r, nil
}

// generator is the initiating side: an IKE engine with one peer per
// tunnel on a socket-only data plane.
type generator struct {
	dp    *dataplane.Dataplane
	e     *ike.Engine
	names []string
}

func newGenerator(topo *lab.SiteToSite, n int, ikeP, espP string, key []byte) (*generator, error) {
	ikeProp, err := suite.ParseIKEProposal(ikeP)
	if err != nil {
		return nil, err
	}
	espProp, err := suite.ParseESPProposal(espP)
	if err != nil {
		return nil, err
	}
	remote, err := ts.ParseList(serverNet)
	if err != nil {
		return nil, err
	}
	base := netip.MustParsePrefix(clientNet).Addr().As4()
	g := &generator{}
	var peers []*ike.PeerConfig
	for i := range n {
		a := base
		v := uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		v += uint32(i + 1)
		a[1], a[2], a[3] = byte(v>>16), byte(v>>8), byte(v)
		local, err := ts.ParseList(netip.AddrFrom4(a).String() + "/32")
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("t%d", i)
		g.names = append(g.names, name)
		peers = append(peers, &ike.PeerConfig{
			Name:        name,
			RemoteAddrs: []netip.Prefix{netip.PrefixFrom(topo.RightOuter, 32)},
			RemoteHost:  topo.RightOuter,
			LocalPort:   dataplane.DefaultIKEPort,
			RemotePort:  dataplane.DefaultIKEPort,
			Proposals:   []wire.Proposal{ikeProp},
			LocalID:     ike.Identity{Type: wire.IDFQDN, Data: []byte(name + ".load.test")},
			RemoteID:    ike.Identity{Type: wire.IDFQDN, Data: []byte(serverID)},
			Children: []*ike.ChildConfig{{
				Name: "net", LocalTS: local, RemoteTS: remote,
				ESPProposals: []wire.Proposal{espProp},
			}},
		})
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	g.e = ike.New(ike.Config{
		Peers:     peers,
		SharedKey: func(_, _ ike.Identity) ([]byte, bool) { return key, true },
		LocalAddr: func(netip.Addr) (netip.Addr, error) { return topo.LeftOuter, nil },
		Logger:    quiet,
		NATTPort:  dataplane.DefaultNATTPort,
		Send: func(local, remote netip.AddrPort, pkt []byte) error {
			return g.dp.SendIKE(local, remote, pkt)
		},
	})
	// The sockets must be made inside the left namespace; they stay
	// there whatever thread uses them later.
	err = topo.Left.Do(func() error {
		var err error
		g.dp, err = dataplane.New(dataplane.Config{
			NoTUN:      true,
			IKEPort:    dataplane.DefaultIKEPort,
			NATTPort:   dataplane.DefaultNATTPort,
			ListenAddr: topo.LeftOuter,
			Logger:     quiet,
			HandleIKE:  g.e.HandlePacket,
			DB:         &sadb.DB{},
		})
		return err
	})
	if err != nil {
		g.e.Close(context.Background())
		return nil, err
	}
	g.dp.Start()
	return g, nil
}

// initiateAll brings every tunnel up, parallel at a time; the first
// failure ends the run.
func (g *generator) initiateAll(ctx context.Context, parallel int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(g.names) || ctx.Err() != nil {
					return
				}
				ictx, icancel := context.WithTimeout(ctx, 30*time.Second)
				err := g.e.Initiate(ictx, g.names[i], "net")
				icancel()
				if err != nil {
					cancel(fmt.Errorf("tunnel %s: %w", g.names[i], err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// close deletes the tunnels (the engine tells the daemon) within a few
// seconds, then closes the sockets.
func (g *generator) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.e.Close(ctx)
	g.dp.Close()
}

func dialControl(ctx context.Context, path string) (*ctl.Client, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := ctl.Dial(path)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("daemon control socket: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitSAs waits until the daemon reports n established IKE SAs (VICI
// stats), so that the memory reading includes every tunnel.
func waitSAs(ctx context.Context, c *ctl.Client, n int) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		sas, _ := st["ikesas"].(map[string]any)
		total, _ := strconv.Atoi(fmt.Sprint(sas["total"]))
		half, _ := strconv.Atoi(fmt.Sprint(sas["half-open"]))
		if total-half >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon has %d IKE SAs (%d half-open), want %d", total, half, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// memory reads the daemon's resident set and Go heap in use; it waits a
// moment first so that the runtime's background GC has run.
func memory(ctx context.Context, c *ctl.Client, pid int) (rss, heap uint64, err error) {
	select {
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("VmRSS: %w", err)
			}
			rss = kb * 1024
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS in /proc status")
	}
	st, err := c.Stats(ctx)
	if err != nil {
		return 0, 0, err
	}
	mem, _ := st["mem"].(map[string]any)
	heap, err = strconv.ParseUint(fmt.Sprint(mem["total"]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("VICI stats mem.total: %w", err)
	}
	return rss, heap, nil
}

// heapProfile has the daemon write its heap profile (after a full GC, so
// that the heap figure read next counts live objects only) if
// GOIPSEC_HEAPPROFILE is set; the daemon only handles SIGUSR1 then.
func heapProfile(pid int) error {
	path := os.Getenv("GOIPSEC_HEAPPROFILE")
	if path == "" {
		return nil
	}
	os.Remove(path)
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return err
	}
	for range 100 {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the daemon wrote no heap profile (GOIPSEC_HEAPPROFILE)")
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
