package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of a Redis store.
const (
	DefaultTimeout    = 50 * time.Millisecond
	DefaultProbeEvery = time.Second
)

// RedisOptions configures NewRedis. Only URL is required.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port[/db], rediss:// or unix:///path.
	URL string
	// Prefix starts every key (server.state.redis.key_prefix).
	Prefix string
	// Instances is expected_instances: while Redis is unreachable, Share is 1/Instances.
	Instances int
	// Timeout bounds each call (a batch is one call); ≤ 0: DefaultTimeout.
	Timeout time.Duration
	// ProbeEvery is how often an unreachable Redis is asked whether it is back; ≤ 0:
	// DefaultProbeEvery.
	ProbeEvery time.Duration
	// Logger receives one WARN line when Redis becomes unreachable and one INFO line when it
	// is back; nil discards.
	Logger *slog.Logger
}

// Redis is a Store shared on a Redis server by every relay configured with the same server and
// prefix. While Redis is unreachable (a call failed or took longer than the timeout) it serves
// every call from a Local store, without calling Redis, and Share is 1/expected_instances;
// a background probe PINGs Redis every ProbeEvery and, once it answers, calls go to Redis
// again. A call never waits longer than the timeout.
//
// Each key is stored as prefix + "{" + key + "}", so that a Redis Cluster keeps each key in
// one slot; a key that carries its own hash tag ("rate:{team}:rpm") keeps it, so that callers
// can put keys they use together in one slot. Rates are GCRA in a Lua script run with EVALSHA
// (EVAL when the server does not know it), on the server's clock; counters are INCRBYFLOAT
// with the expiry set in the same script.
type Redis struct {
	// c is the client in use; a recovery swaps in the probe's client, whose connections are
	// new (the old ones may be to a server that went away).
	c       atomic.Pointer[redis.Client]
	opts    *redis.Options
	local   *Local
	prefix  string
	timeout time.Duration
	every   time.Duration
	share   float64
	addr    string // the URL without its password, for logs
	log     *slog.Logger

	up        atomic.Bool
	probing   atomic.Bool
	fallbacks atomic.Int64
	closeMu   sync.Mutex // orders Close and a probe's swap of the client
	closeOnce sync.Once
	done      chan struct{}
}

var quietRedis sync.Once

// NewRedis returns a store on the Redis at opts.URL. It PINGs Redis once (within the timeout):
// when Redis does not answer, the store starts on local state and probes in the background.
// Only a URL that cannot be parsed is an error; the error does not quote it.
func NewRedis(opts RedisOptions) (*Redis, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("state: server.state.redis.url (%s): %v", RedactURL(opts.URL), redactErr(err, opts.URL))
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = timeout, timeout, timeout, timeout
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = -1 // one failed call is enough: the store falls back rather than retry
	ro.DisableIdentity = true
	ro.Protocol = 2
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	quietRedis.Do(func() { redis.SetLogger(discardLogger{}) }) // the store logs what matters itself
	r := &Redis{
		opts:    ro,
		local:   NewLocal(nil),
		prefix:  opts.Prefix,
		timeout: timeout,
		every:   opts.ProbeEvery,
		share:   1 / float64(max(opts.Instances, 1)),
		addr:    RedactURL(opts.URL),
		log:     opts.Logger,
		done:    make(chan struct{}),
	}
	if r.every <= 0 {
		r.every = DefaultProbeEvery
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.c.Store(redis.NewClient(ro))
	r.up.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	err = r.c.Load().Ping(ctx).Err()
	cancel()
	if err != nil {
		r.down(err)
	}
	return r, nil
}

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// RedactURL returns a Redis URL with its password, if any, replaced by "xxxxx", for logs and
// messages. It does not need the URL to parse.
func RedactURL(s string) string {
	if p := password(s); p != "" {
		return strings.Replace(s, ":"+p+"@", ":xxxxx@", 1)
	}
	return s
}

// password is the password in a URL's user information ("" when none), found without parsing
// the rest of the URL.
func password(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return ""
	}
	rest := s[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	_, p, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}
	return p
}

// redactErr is err's text with the URL's password, if any, replaced.
func redactErr(err error, rawURL string) string {
	msg := err.Error()
	if p := password(rawURL); p != "" {
		msg = strings.ReplaceAll(msg, p, "xxxxx")
	}
	return msg
}

// Close stops the background probe and closes the connections. Calls after Close are served
// from local state.
func (r *Redis) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.closeMu.Lock()
		defer r.closeMu.Unlock()
		close(r.done)
		r.up.Store(false)
		err = r.c.Load().Close()
	})
	return err
}

// Up reports whether Redis is reachable (as far as the last call or probe knows).
func (r *Redis) Up() bool { return r.up.Load() }

// Check asks a reachable Redis whether it still answers (PING, within the timeout), so that
// an idle relay's health says the truth; an unreachable one is left to the background probe.
// It reports whether Redis is reachable.
func (r *Redis) Check(ctx context.Context) bool {
	if !r.up.Load() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	if err := r.c.Load().Ping(ctx).Err(); err != nil {
		r.down(err)
		return false
	}
	return true
}

// Fallbacks returns how many operations were served from local state because Redis was
// unreachable.
func (r *Redis) Fallbacks() int64 { return r.fallbacks.Load() }

// Address is the Redis URL without its password.
func (r *Redis) Address() string { return r.addr }

// Share implements Store: 1 while Redis is reachable, 1/expected_instances while it is not.
func (r *Redis) Share() float64 {
	if r.up.Load() {
		return 1
	}
	return r.share
}

// Take implements Store.
func (r *Redis) Take(ctx context.Context, key string, limit int64, period time.Duration, cost int64) (bool, time.Duration, error) {
	ops := [1]Op{Take(key, limit, period, cost)}
	err := r.Batch(ctx, ops[:])
	return ops[0].OK, ops[0].Wait, err
}

// Add implements Store.
func (r *Redis) Add(ctx context.Context, key string, delta float64, ttl time.Duration) (float64, error) {
	ops := [1]Op{Add(key, delta, ttl)}
	err := r.Batch(ctx, ops[:])
	return ops[0].Sum, err
}

// Put implements Store.
func (r *Redis) Put(ctx context.Context, key, value string, ttl time.Duration) error {
	ops := [1]Op{Put(key, value, ttl)}
	return r.Batch(ctx, ops[:])
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, key string) (string, bool, error) {
	ops := [1]Op{Get(key)}
	err := r.Batch(ctx, ops[:])
	return ops[0].Value, ops[0].OK, err
}

// Batch implements Store: one pipeline, within the timeout. When Redis is unreachable, or the
// pipeline fails, every op is served by the local store instead (a write the failed pipeline
// may have made in Redis is not undone). It never returns an error.
func (r *Redis) Batch(ctx context.Context, ops []Op) error {
	if len(ops) == 0 {
		return nil
	}
	if r.up.Load() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
		err := r.run(ctx, ops, false)
		if errors.Is(err, errNoScript) {
			err = r.run(ctx, ops, true) // the server lost its scripts (a restart): EVAL them
		}
		cancel()
		if err == nil {
			return nil
		}
		r.down(err)
	}
	r.fallbacks.Add(int64(len(ops)))
	return r.local.Batch(ctx, ops)
}

var errNoScript = errors.New("state: redis lost its scripts")

// run sends ops as one pipeline and reads their results; eval sends scripts whole.
func (r *Redis) run(ctx context.Context, ops []Op, eval bool) error {
	pipe := r.c.Load().Pipeline()
	cmds := make([]redis.Cmder, len(ops))
	script := func(s *redis.Script, key string, args ...any) redis.Cmder {
		if eval {
			return s.Eval(ctx, pipe, []string{key}, args...)
		}
		return s.EvalSha(ctx, pipe, []string{key}, args...)
	}
	for i := range ops {
		op := &ops[i]
		key := r.key(op.Key)
		switch op.Kind {
		case OpTake:
			if op.Limit <= 0 || op.Period <= 0 {
				continue
			}
			force := "0"
			if op.Force {
				force = "1"
			}
			cmds[i] = script(gcraScript, key, op.Limit, op.Period.Microseconds(), op.Cost, force)
		case OpAdd:
			cmds[i] = script(addScript, key, strconv.FormatFloat(op.Delta, 'f', -1, 64), op.TTL.Milliseconds())
		case OpPut:
			switch {
			case op.Value == "":
				cmds[i] = pipe.Del(ctx, key)
			case op.TTL > 0:
				cmds[i] = pipe.Set(ctx, key, op.Value, max(op.TTL, time.Millisecond))
			default:
				cmds[i] = pipe.Set(ctx, key, op.Value, 0)
			}
		case OpGet:
			cmds[i] = pipe.Get(ctx, key)
		}
	}
	if pipe.Len() == 0 {
		return r.results(ops, cmds)
	}
	pipe.Exec(ctx) // each command keeps its own result or error, read below
	return r.results(ops, cmds)
}

// results reads each op's result from its command.
func (r *Redis) results(ops []Op, cmds []redis.Cmder) error {
	for i := range ops {
		op, c := &ops[i], cmds[i]
		if c == nil { // a Take without a limit
			op.OK, op.Wait = true, 0
			continue
		}
		err := c.Err()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			return errNoScript
		}
		switch op.Kind {
		case OpTake:
			if err != nil {
				return fmt.Errorf("state: take %s: %w", op.Key, err)
			}
			v, _ := c.(*redis.Cmd).Int64Slice()
			if len(v) != 2 {
				return fmt.Errorf("state: take %s: unexpected reply", op.Key)
			}
			op.OK, op.Wait = v[0] == 1, time.Duration(v[1])*time.Microsecond
		case OpAdd:
			if err != nil {
				return fmt.Errorf("state: add %s: %w", op.Key, err)
			}
			s, _ := c.(*redis.Cmd).Text()
			f, perr := strconv.ParseFloat(s, 64)
			if perr != nil {
				return fmt.Errorf("state: add %s: unexpected reply %q", op.Key, s)
			}
			op.Sum = f
		case OpPut:
			if err != nil {
				return fmt.Errorf("state: put %s: %w", op.Key, err)
			}
		case OpGet:
			switch {
			case errors.Is(err, redis.Nil):
				op.Value, op.OK = "", false
			case err != nil:
				return fmt.Errorf("state: get %s: %w", op.Key, err)
			default:
				op.Value, op.OK = c.(*redis.StringCmd).Val(), true
			}
		}
	}
	return nil
}

// key is the Redis key of a store key: the prefix, and the key as its own hash tag unless it
// carries one.
func (r *Redis) key(k string) string {
	if strings.IndexByte(k, '{') >= 0 {
		return r.prefix + k
	}
	return r.prefix + "{" + k + "}"
}

// down marks Redis unreachable after err: one WARN line, and a probe until it is back.
func (r *Redis) down(err error) {
	select {
	case <-r.done:
		return
	default:
	}
	if !r.up.CompareAndSwap(true, false) {
		return
	}
	r.log.Warn("shared state unreachable: serving on local state, each limit divided by expected_instances, until Redis answers again",
		"redis", r.addr, "error", err.Error(), "share", r.share)
	if r.probing.CompareAndSwap(false, true) {
		go r.probe()
	}
}

// probe PINGs Redis every r.every, each time on a new client, until it answers (or the store
// is closed); then that client replaces the old one, whose connections may be dead, and Redis
// is marked reachable: one INFO line.
func (r *Redis) probe() {
	defer r.probing.Store(false)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		}
		c := redis.NewClient(r.opts)
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		err := c.Ping(ctx).Err()
		cancel()
		if err != nil {
			c.Close()
			continue
		}
		r.closeMu.Lock()
		select {
		case <-r.done:
			r.closeMu.Unlock()
			c.Close()
			return
		default:
		}
		old := r.c.Swap(c)
		r.up.Store(true)
		r.closeMu.Unlock()
		old.Close() // calls in flight on it fail over to local state
		r.log.Info("shared state reachable again: limits count across instances", "redis", r.addr)
		return
	}
}

// gcraScript is the GCRA of gcra (local.go) on the server's clock, in microseconds. KEYS[1]
// holds the theoretical arrival time; ARGV: limit, period, cost, force. It returns {1, 0}
// when the cost fits (and charges it), {0, wait} when it does not.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local interval = math.floor(period / limit)
if cost > limit then cost = limit end
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new = tat + cost * interval
if new < now then new = now end
local over = new - now - period
if over > 0 and ARGV[4] ~= '1' then
  return {0, math.ceil(over)}
end
local ttl = math.ceil((new - now) / 1000)
if ttl > 0 then
  redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', ttl)
else
  redis.call('DEL', KEYS[1])
end
return {1, 0}
`)

// addScript adds ARGV[1] to the counter KEYS[1], setting its expiry (ARGV[2] ms, 0: none) only
// when it creates it, and returns the new value as a string.
var addScript = redis.NewScript(`
local existed = redis.call('EXISTS', KEYS[1])
local v = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if existed == 0 and tonumber(ARGV[2]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
`)
