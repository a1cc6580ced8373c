package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccrelay/ccrelay/relay/config"
	"github.com/ccrelay/ccrelay/relay/keys"
	"github.com/ccrelay/ccrelay/relay/route"
	"github.com/ccrelay/ccrelay/relay/state"
)

// With server.state.redis the relay shares what must hold across instances through a
// state.Store. Decisions are still made in process, by the key pools, the router and the
// affinity tables: the shared state is read into them (mirrored) where a decision needs it,
// and what this relay learns is written back. An attempt costs one round trip to the store
// (admit): the provider's circuit, the key's cooldown and rejection, and the key's rpm and tpm
// rates charged atomically (GCRA in Lua), with the key's last tpm correction. Writes that
// others must see before this relay answers (a cooldown, a rejection, a circuit opening, a new
// session binding) are made before it answers; the rest are sent in the background: a tpm
// correction that no admit sent within 250 ms, a session binding's refresh every 5 minutes.
// A session or a signature this relay does not know costs one more round trip to look up.
//
// The store's keys (the Redis store adds its prefix and puts each in a hash tag):
//
//	rate:PROVIDER:KEYID:rpm, rate:PROVIDER:KEYID:tpm  GCRA arrival time of the key's rates
//	cool:PROVIDER:KEYID      429 cooldown: until (unix ms), expiring then
//	rej:PROVIDER:KEYID       rejection: "until reason", expiring when the key may be probed
//	circuit:PROVIDER         open circuit: "opened failures cause", expiring after the cooldown
//	fails:PROVIDER           consecutive failures (a counter), reset by a success
//	session:SHA              session binding: "PROVIDER KEYID", for an hour after its last use
//	sig:SHA                  provider that produced a thinking signature, for a day
//
// KEYID is the first 16 hex digits of the SHA-256 of the key (never the key); SHA is the first
// 32 hex digits of the SHA-256 of the session id or of the signature.
//
// Without server.state the relay has no shared (nil) and none of this runs.
type shared struct {
	r         *Relay
	st        state.Store
	threshold int
	cooldown  time.Duration
	// dirty is, per provider, whether the store may hold failures or an open circuit that a
	// success must clear.
	dirty map[string]*atomic.Bool
	// share is the store's Share as admit last saw it (math.Float64bits).
	share atomic.Uint64
	// pending is, per provider and key (in configuration order), the tpm correction not yet
	// sent: the next admit of the key sends it in its round trip, or a timer armed by released
	// does within pendingFlush.
	pending map[string][]pendingTPM
	// refreshedMu guards refreshed: when this relay last wrote each session's binding, so that
	// a session's requests refresh the shared binding every sessionRefresh, not every time.
	refreshedMu sync.Mutex
	refreshed   map[string]time.Time
}

// pendingTPM is a key's tpm correction not yet sent.
type pendingTPM struct {
	tokens atomic.Int64
	armed  atomic.Bool
}

// TTLs of the shared records.
const (
	sharedFailsTTL   = 10 * time.Minute
	sharedSessionTTL = route.DefaultAffinityTTL
	sharedSigTTL     = 24 * time.Hour
	// sessionRefresh is how often a session's requests write its unchanged binding again.
	sessionRefresh = 5 * time.Minute
	// maxRefreshed bounds the sessions whose last write is remembered.
	maxRefreshed = 10_000
	// pendingFlush is how long a tpm correction may wait for the key's next admit.
	pendingFlush = 250 * time.Millisecond
)

// errCircuitShared is admit's error when the provider's circuit is open in the shared state.
var errCircuitShared = errors.New("relay: the provider's circuit is open on another relay")

// errKeyShared is admit's error when the shared state holds the leased key back (cooling
// down, rejected, or its rate reached): the lease was given back and another may be taken.
var errKeyShared = errors.New("relay: the key is held back by the shared state")

// newShared returns the shared side of r on st.
func newShared(r *Relay, st state.Store) *shared {
	s := &shared{r: r, st: st, threshold: r.cfg.Routing.CircuitBreaker.FailureThreshold,
		cooldown: r.cfg.Routing.CircuitBreaker.Cooldown.Or(route.DefaultCooldown), dirty: map[string]*atomic.Bool{},
		pending: map[string][]pendingTPM{}, refreshed: map[string]time.Time{}}
	if s.threshold <= 0 {
		s.threshold = route.DefaultFailureThreshold
	}
	for _, u := range r.upstreams {
		s.dirty[u.cfg.Name] = &atomic.Bool{}
		s.pending[u.cfg.Name] = make([]pendingTPM, len(u.cfg.Keys))
		u.keyIDs = make([]string, len(u.cfg.Keys))
		for i, k := range u.cfg.Keys {
			sum := sha256.Sum256([]byte(k.Key))
			u.keyIDs[i] = hex.EncodeToString(sum[:8])
		}
	}
	r.router.OnReport(s.reported)
	s.share.Store(math.Float64bits(st.Share()))
	return s
}

// shareNow returns the store's Share. When it changed since the last call (Redis was lost or
// found again), the keys held back by the rates of the other state are released: a rate
// refused by the local fallback says nothing about Redis, and the other way round.
func (s *shared) shareNow() float64 {
	share := s.st.Share()
	if bits := math.Float64bits(share); s.share.Swap(bits) != bits {
		for _, u := range s.r.upstreams {
			u.pool.Unhold()
		}
	}
	return share
}

// openState sets r.state: the store given (Options.State); else prev's when it had the same
// server.state (a reload keeps the connections, the fallback, limits and spend); else a Redis
// store for server.state.redis; else an in-process one.
func (r *Relay) openState(given state.Store, prev *Relay) error {
	rs := r.cfg.Server.State.Redis
	switch {
	case given != nil:
		r.state = given
	case prev != nil && prev.state != nil && reflect.DeepEqual(prev.cfg.Server.State, r.cfg.Server.State):
		r.state, r.ownState = prev.state, prev.ownState
	case rs == nil:
		r.state = state.NewLocal(r.now)
	default:
		st, err := state.NewRedis(state.RedisOptions{URL: rs.URL, Prefix: rs.Prefix(), Instances: rs.Instances(),
			Timeout: rs.Timeout.Or(config.DefaultStateTimeout), ProbeEvery: r.stateProbe, Logger: r.log})
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		r.state, r.ownState = st, true
	}
	return nil
}

// Close closes the relay's connections to the shared state it opened (not a store given in
// Options.State), if any. Requests still in flight finish on local state.
func (r *Relay) Close() error {
	if c, ok := r.state.(io.Closer); ok && r.ownState {
		return c.Close()
	}
	return nil
}

// tag makes a name safe inside a store key: no braces (the Redis store's hash tags).
var tag = strings.NewReplacer("{", "%7B", "}", "%7D", " ", "%20")

func keyName(kind string, u *upstream, idx int) string {
	return kind + ":" + tag.Replace(u.cfg.Name) + ":" + u.keyIDs[idx]
}

func providerName(kind, provider string) string { return kind + ":" + tag.Replace(provider) }

// digest is the first 32 hex digits of the SHA-256 of b.
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func unixMilli(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// admit checks a lease just taken from u's pool against the shared state, in one round trip:
// the provider's circuit (when circuit is set: the first lease of the provider for a request
// that is not the probe of a half-open circuit), the key's cooldown and rejection, and its
// rpm and tpm rates, charged with one request and est tokens. When the shared state refuses,
// what it said is mirrored into the pool or the router, the lease is given back unused, the
// rates charged are refunded, and the error says which: errCircuitShared or errKeyShared.
func (s *shared) admit(ctx context.Context, u *upstream, l *keys.Lease, est int, circuit bool) error {
	idx := l.Index()
	var ops [7]state.Op
	n := 0
	at := func(op state.Op) int { ops[n] = op; n++; return n - 1 }
	iCirc, iFails, iCool, iRej, iRPM, iTPM := -1, -1, -1, -1, -1, -1
	if circuit {
		iCirc = at(state.Get(providerName("circuit", u.cfg.Name)))
		iFails = at(state.Add(providerName("fails", u.cfg.Name), 0, sharedFailsTTL))
	}
	var kc config.Key
	share := s.shareNow()
	charged := int64(0)
	if idx >= 0 {
		kc = u.cfg.Keys[idx]
		iCool = at(state.Get(keyName("cool", u, idx)))
		iRej = at(state.Get(keyName("rej", u, idx)))
		if kc.RPMLimit > 0 {
			iRPM = at(state.Take(keyName("rate", u, idx)+":rpm", state.Scale(int64(kc.RPMLimit), share), time.Minute, 1))
		}
		if kc.TPMLimit > 0 {
			if d := s.pending[u.cfg.Name][idx].tokens.Swap(0); d != 0 {
				at(s.correction(u, idx, share, d)) // before the take, which then sees it
			}
			charged = min(int64(max(est, 0)), int64(kc.TPMLimit))
			iTPM = at(state.Take(keyName("rate", u, idx)+":tpm", state.Scale(int64(kc.TPMLimit), share), time.Minute, charged))
		}
	}
	if n == 0 {
		return nil
	}
	s.st.Batch(ctx, ops[:n])
	if now := s.shareNow(); now != share && (iRPM >= 0 || iTPM >= 0) {
		// The store lost Redis during the call: the rates were taken from local state with
		// the whole limit. Take them again with the local share.
		s.refund(ops[:n], iRPM, iTPM)
		share = now
		if iRPM >= 0 {
			ops[iRPM] = state.Take(ops[iRPM].Key, state.Scale(int64(kc.RPMLimit), share), time.Minute, 1)
		}
		if iTPM >= 0 {
			ops[iTPM] = state.Take(ops[iTPM].Key, state.Scale(int64(kc.TPMLimit), share), time.Minute, charged)
		}
		s.st.Batch(ctx, ops[:n])
	}
	now := s.r.now()
	giveBack := func() {
		s.refund(ops[:n], iRPM, iTPM)
		l.Release(keys.Outcome{Status: 0, Usage: 0})
	}
	if circuit {
		if ops[iFails].Sum > 0 || ops[iCirc].OK {
			s.dirty[u.cfg.Name].Store(true)
		}
		if ops[iCirc].OK {
			opened, failures, cause := parseCircuit(ops[iCirc].Value)
			if opened.Add(s.cooldown).After(now) {
				s.r.router.Observe(u.cfg.Name, opened, failures, cause)
				giveBack()
				return errCircuitShared
			}
		}
	}
	if idx < 0 {
		return nil
	}
	if until := unixMilli(ops[iCool].Value); ops[iCool].OK && until.After(now) {
		u.pool.Observe(idx, until, time.Time{}, "")
		giveBack()
		return errKeyShared
	}
	if ops[iRej].OK {
		v, reason, _ := strings.Cut(ops[iRej].Value, " ")
		if until := unixMilli(v); until.After(now) {
			u.pool.Observe(idx, time.Time{}, until, reason)
			giveBack()
			return errKeyShared
		}
	}
	for _, i := range []int{iRPM, iTPM} {
		if i >= 0 && !ops[i].OK {
			why := "rpm_limit reached across the relays sharing the state"
			if i == iTPM {
				why = "tpm_limit reached across the relays sharing the state"
			}
			u.pool.Hold(idx, now.Add(ops[i].Wait), why)
			giveBack()
			return errKeyShared
		}
	}
	l.Then(func(o keys.Outcome, v keys.Verdict) { s.released(u, idx, charged, o, v) })
	return nil
}

// refund gives back, in the background, the rates of ops[i] (i ≥ 0) that were charged.
func (s *shared) refund(ops []state.Op, idx ...int) {
	var back []state.Op
	for _, i := range idx {
		if i >= 0 && ops[i].OK && ops[i].Cost != 0 {
			op := ops[i]
			back = append(back, state.Take(op.Key, op.Limit, op.Period, -op.Cost))
		}
	}
	s.send(back)
}

// send runs ops in the background (writes no answer waits for).
func (s *shared) send(ops []state.Op) {
	if len(ops) > 0 {
		go s.st.Batch(context.Background(), ops)
	}
}

// correction is the op that corrects the key's tpm rate by delta tokens: a refund, or a
// charge made even when it does not fit (the rate goes into debt).
func (s *shared) correction(u *upstream, idx int, share float64, delta int64) state.Op {
	op := state.Take(keyName("rate", u, idx)+":tpm", state.Scale(int64(u.cfg.Keys[idx].TPMLimit), share), time.Minute, delta)
	op.Force = delta > 0
	return op
}

// flush sends the key's pending tpm correction, if its next admit has not.
func (s *shared) flush(u *upstream, idx int) {
	p := &s.pending[u.cfg.Name][idx]
	p.armed.Store(false)
	if d := p.tokens.Swap(0); d != 0 {
		s.st.Batch(context.Background(), []state.Op{s.correction(u, idx, s.st.Share(), d)})
	}
}

// released writes what the release of a lease admitted by admit taught: the tpm rate
// corrected from the estimate to the real usage (with the key's next admit, or within
// pendingFlush), and, before the relay answers, a 429 cooldown or a rejection, so that the
// next request to any relay honours it.
func (s *shared) released(u *upstream, idx int, charged int64, o keys.Outcome, v keys.Verdict) {
	var ops []state.Op
	if limit := u.cfg.Keys[idx].TPMLimit; limit > 0 {
		usage := o.Usage
		if usage < 0 && o.Status >= 400 {
			usage = 0
		}
		if delta := int64(usage) - charged; usage >= 0 && delta != 0 {
			p := &s.pending[u.cfg.Name][idx]
			p.tokens.Add(delta)
			if p.armed.CompareAndSwap(false, true) {
				time.AfterFunc(pendingFlush, func() { s.flush(u, idx) })
			}
		}
	}
	now := s.r.now()
	urgent := false
	if v.CooledFor > 0 {
		until := now.Add(v.CooledFor)
		ops = append(ops, state.Put(keyName("cool", u, idx), strconv.FormatInt(until.UnixMilli(), 10), v.CooledFor))
		urgent = true
	}
	switch {
	case v.Disabled:
		until := now.Add(v.RetryIn)
		ops = append(ops, state.Put(keyName("rej", u, idx), strconv.FormatInt(until.UnixMilli(), 10)+" "+rejection(o.Status), v.RetryIn))
		urgent = true
	case v.Reenabled:
		ops = append(ops, state.Put(keyName("rej", u, idx), "", 0))
	}
	if urgent {
		s.st.Batch(context.Background(), ops)
		return
	}
	s.send(ops)
}

// rejection is the reason another relay gives for a key this one saw rejected.
func rejection(status int) string {
	if status > 0 {
		return fmt.Sprintf("disabled after upstream %d %s (seen by another relay sharing the state)", status, http.StatusText(status))
	}
	return "disabled after the provider rejected the key (seen by another relay sharing the state)"
}

// parseCircuit reads a circuit record: "opened failures cause".
func parseCircuit(v string) (opened time.Time, failures int, cause string) {
	f := strings.SplitN(v, " ", 3)
	if len(f) < 2 {
		return time.Time{}, 0, ""
	}
	opened = unixMilli(f[0])
	failures, _ = strconv.Atoi(f[1])
	if len(f) == 3 {
		cause = f[2]
	}
	return opened, failures, cause
}

// reported is the router's OnReport: a failure counts towards the provider's consecutive
// failures across relays, and opens the circuit for all of them once the threshold is
// reached (or once this relay's circuit opened); a success clears both, when the store may
// hold any.
func (s *shared) reported(rep route.Reported) {
	dirty := s.dirty[rep.Provider]
	if dirty == nil {
		return
	}
	if rep.OK {
		if dirty.Swap(false) {
			s.send([]state.Op{state.Put(providerName("fails", rep.Provider), "", 0), state.Put(providerName("circuit", rep.Provider), "", 0)})
		}
		return
	}
	dirty.Store(true)
	ctx := context.Background()
	failures, _ := s.st.Add(ctx, providerName("fails", rep.Provider), 1, sharedFailsTTL)
	opened := time.Time{}
	switch {
	case rep.Opened:
		opened = rep.OpenedAt
	case rep.OpenedAt.IsZero() && int(failures) >= s.threshold:
		opened = s.r.now()
		s.r.router.Observe(rep.Provider, opened, int(failures), rep.Cause)
	}
	if opened.IsZero() {
		return
	}
	left := opened.Add(s.cooldown).Sub(s.r.now())
	if left <= 0 {
		return
	}
	rec := strconv.FormatInt(opened.UnixMilli(), 10) + " " + strconv.Itoa(max(int(failures), rep.Failures)) + " " + rep.Cause
	s.st.Put(ctx, providerName("circuit", rep.Provider), rec, left)
}

// binding returns the session's binding: this relay's, else the shared one (mirrored into
// this relay's table).
func (r *Relay) binding(session string) (route.Binding, bool) {
	if b, ok := r.affinity.Get(session); ok || r.shared == nil || session == "" {
		return b, ok
	}
	v, ok, _ := r.shared.st.Get(context.Background(), "session:"+digest([]byte(session)))
	if !ok {
		return route.Binding{}, false
	}
	name, id, _ := strings.Cut(v, " ")
	u := r.upstream(name)
	if u == nil {
		return route.Binding{}, false
	}
	b := route.Binding{Provider: name, Key: -1}
	for i, kid := range u.keyIDs {
		if kid == id {
			b.Key = i
		}
	}
	r.affinity.Set(session, b)
	return b, true
}

// shareBinding writes, when the relay commits to u's answer for a session, where the session
// went: before the answer when the binding is new to this relay (the session's next request
// may reach another relay at once), in the background when it only refreshes it.
func (r *Relay) shareBinding(session string, u *upstream, key int) {
	if r.shared == nil || session == "" {
		return
	}
	id := "-"
	if key >= 0 && key < len(u.keyIDs) {
		id = u.keyIDs[key]
	}
	op := state.Put("session:"+digest([]byte(session)), u.cfg.Name+" "+id, sharedSessionTTL)
	if b, ok := r.affinity.Get(session); ok && b.Provider == u.cfg.Name && b.Key == key {
		if r.shared.refresh(session) {
			r.shared.send([]state.Op{op})
		}
		return
	}
	r.shared.refresh(session)
	r.shared.st.Batch(context.Background(), []state.Op{op})
}

// refresh reports whether the session's unchanged binding is due to be written again, and
// notes that it is being written.
func (s *shared) refresh(session string) bool {
	now := s.r.now()
	s.refreshedMu.Lock()
	defer s.refreshedMu.Unlock()
	if at, ok := s.refreshed[session]; ok && now.Sub(at) < sessionRefresh {
		return false
	}
	if len(s.refreshed) >= maxRefreshed {
		clear(s.refreshed)
	}
	s.refreshed[session] = now
	return true
}

// rememberSignature records that provider produced a thinking signature: in this relay's
// cache, and in the background in the shared state.
func (r *Relay) rememberSignature(sig, provider string) {
	if sig == "" {
		return
	}
	r.sigs.Remember(sig, provider)
	if r.shared != nil {
		r.shared.send([]state.Op{state.Put("sig:"+digest([]byte(sig)), provider, sharedSigTTL)})
	}
}

// sharedOrigin looks the signatures this relay does not know (latest first) up in the shared
// state, in one round trip, and returns the provider of the first one found ("" when none).
func (r *Relay) sharedOrigin(sigs [][]byte) string {
	if r.shared == nil || len(sigs) == 0 {
		return ""
	}
	ops := make([]state.Op, len(sigs))
	for i, sig := range sigs {
		ops[i] = state.Get("sig:" + digest(sig))
	}
	r.shared.st.Batch(context.Background(), ops)
	for i, op := range ops {
		if op.OK && r.upstream(op.Value) != nil {
			r.sigs.Remember(string(sigs[i]), op.Value)
			return op.Value
		}
	}
	return ""
}

// sharedHealth is the shared state in /health.
type sharedHealth struct {
	Backend string `json:"backend"`
	// Address is the Redis URL without its password.
	Address   string `json:"address"`
	Reachable bool   `json:"reachable"`
	// Share is the fraction of each limit this relay may use now: 1 while the state is
	// shared, 1/expected_instances while it is not.
	Share float64 `json:"share"`
}

// sharedHealth describes the shared state for /health (asking Redis whether it answers), and
// says "shared state unreachable" while the relay serves on local state; nil and "" without
// server.state.
func (r *Relay) sharedHealth(ctx context.Context) (*sharedHealth, string) {
	st, ok := r.state.(*state.Redis)
	if !ok || r.shared == nil {
		return nil, ""
	}
	up := st.Check(ctx)
	h := &sharedHealth{Backend: "redis", Address: st.Address(), Reachable: up, Share: st.Share()}
	if !h.Reachable {
		return h, "shared state unreachable"
	}
	return h, ""
}

// sharedLine is Start's line about the shared state; "" without server.state.
func (r *Relay) sharedLine() string {
	st, ok := r.state.(*state.Redis)
	rs := r.cfg.Server.State.Redis
	if !ok || rs == nil {
		return ""
	}
	if !st.Up() {
		return fmt.Sprintf("shared state: Redis at %s does not answer; serving on local state with each limit divided by %d (expected_instances) until it does",
			st.Address(), rs.Instances())
	}
	return fmt.Sprintf("shared state: Redis at %s, key prefix %q, %d instances expected", st.Address(), rs.Prefix(), rs.Instances())
}
