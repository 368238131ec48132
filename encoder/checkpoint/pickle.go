package checkpoint

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file holds a restricted pickle virtual machine: it understands the
// opcodes torch.save emits for a state dict (protocol 2, and the protocol 4
// forms STACK_GLOBAL, MEMOIZE and FRAME) and the handful of globals that
// describe tensors. It builds plain values and never calls anything: a
// REDUCE of an allowed global is interpreted by this code, any other global
// is an error.

// pyGlobal is a class or function named by GLOBAL/STACK_GLOBAL.
type pyGlobal struct{ module, name string }

// pyTuple is an immutable Python tuple.
type pyTuple []any

// pyList is a Python list (a pointer, as lists are mutable and memoised).
type pyList struct{ items []any }

// pyDict is an insertion-ordered Python dict or OrderedDict with hashable
// scalar keys (str, int, bool, None).
type pyDict struct {
	keys []any
	vals map[any]any
}

func newDict() *pyDict { return &pyDict{vals: map[any]any{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil:
	default:
		return fmt.Errorf("%w: dict key of type %s", ErrUnsupportedPickle, pyType(k))
	}
	if _, ok := d.vals[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[k] = v
	return nil
}

// pyMark is the MARK sentinel on the stack.
type pyMark struct{}

// torchStorage is a persistent reference to archive/data/<key>.
type torchStorage struct {
	typ   string // e.g. "FloatStorage"
	key   string
	numel int64
}

// torchTensor is a tensor view built by torch._utils._rebuild_tensor_v2.
type torchTensor struct {
	storage *torchStorage
	offset  int64
	shape   []int64
	stride  []int64
}

// torchStorageTypes maps the storage classes a state dict may name to the
// element size in bytes and, for the float types this package loads, the
// DType (ok false for the others: such tensors may be listed and skipped but
// not loaded).
var torchStorageTypes = map[string]struct {
	size  int
	dtype DType
	ok    bool
}{
	"FloatStorage":    {4, F32, true},
	"HalfStorage":     {2, F16, true},
	"BFloat16Storage": {2, BF16, true},
	"DoubleStorage":   {8, 0, false},
	"LongStorage":     {8, 0, false},
	"IntStorage":      {4, 0, false},
	"ShortStorage":    {2, 0, false},
	"CharStorage":     {1, 0, false},
	"ByteStorage":     {1, 0, false},
	"BoolStorage":     {1, 0, false},
}

var allowedGlobals = map[pyGlobal]bool{
	{"collections", "OrderedDict"}:         true,
	{"torch._utils", "_rebuild_tensor_v2"}: true,
	{"torch._utils", "_rebuild_tensor"}:    true,
	{"torch._utils", "_rebuild_parameter"}: true,
}

func isAllowedGlobal(g pyGlobal) bool {
	if allowedGlobals[g] {
		return true
	}
	if g.module == "torch" {
		_, ok := torchStorageTypes[g.name]
		return ok
	}
	return false
}

func pyType(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		return "str"
	case int64:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return v.module + "." + v.name
	case *torchStorage:
		return "storage"
	case *torchTensor:
		return "tensor"
	case pyMark:
		return "mark"
	}
	return fmt.Sprintf("%T", v)
}

// maxPickleStack bounds the stack and memo to keep hostile input cheap.
const maxPickleStack = 1 << 20

// maxPickleDepth bounds how deeply containers (tuples, lists, dicts) may
// nest. A state dict nests a handful of levels (dict, tensor arguments,
// size tuple); the bound keeps every later walk over the values, and any
// formatting of them, shallow.
const maxPickleDepth = 32

// maxPickleItems bounds the items put into containers over a whole pickle
// (a state dict holds about ten per tensor, so a few thousand for a BERT):
// an APPEND costs 2 bytes of input and 16 of memory, so without a bound a
// pickle of the allowed size could grow lists by gigabytes.
const maxPickleItems = 1 << 20

type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[int64]any
	// depth records the nesting depth of each container built so far,
	// keyed by *pyList, *pyDict or, for a non-empty tuple, the address of
	// its first element (tuples are freshly allocated and immutable).
	depth map[any]int
	items int // items put into containers so far
}

// unpickle runs the restricted VM over data and returns the object STOP
// leaves on the stack.
func unpickle(data []byte) (any, error) {
	u := &unpickler{data: data, memo: map[int64]any{}, depth: map[any]int{}}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("data.pkl at byte %d: %w", u.pos, err)
	}
	return v, nil
}

// depthOf returns the nesting depth of v: 0 for a scalar, 1 for an empty
// container, 1 + the deepest item otherwise.
func (u *unpickler) depthOf(v any) int {
	switch v := v.(type) {
	case pyTuple:
		if len(v) == 0 {
			return 1
		}
		return u.depth[&v[0]]
	case *pyList:
		return max(1, u.depth[v])
	case *pyDict:
		return max(1, u.depth[v])
	case *torchTensor:
		return 2
	case *torchStorage:
		return 1
	}
	return 0
}

// containerDepth returns 1 + the deepest of items, or an error past
// maxPickleDepth.
func (u *unpickler) containerDepth(items []any) (int, error) {
	if u.items += len(items); u.items > maxPickleItems {
		return 0, fmt.Errorf("%w: more than %d items in containers", ErrUnsupportedPickle, maxPickleItems)
	}
	d := 1
	for _, it := range items {
		d = max(d, 1+u.depthOf(it))
	}
	if d > maxPickleDepth {
		return 0, fmt.Errorf("%w: containers nested more than %d deep", ErrUnsupportedPickle, maxPickleDepth)
	}
	return d, nil
}

// pushTuple pushes a tuple of items (owned by the caller, not shared).
func (u *unpickler) pushTuple(items []any) error {
	d, err := u.containerDepth(items)
	if err != nil {
		return err
	}
	t := pyTuple(items)
	if len(t) > 0 {
		u.depth[&t[0]] = d
	}
	return u.push(t)
}

// grow records that items were added to a list or dict.
func (u *unpickler) grow(c any, items []any) error {
	d, err := u.containerDepth(items)
	if err != nil {
		return err
	}
	u.depth[c] = max(u.depth[c], d)
	return nil
}

func (u *unpickler) need(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, fmt.Errorf("%w: pickle truncated", ErrCorrupt)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxPickleStack {
		return fmt.Errorf("%w: pickle stack too deep", ErrCorrupt)
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("%w: pickle stack underflow", ErrCorrupt)
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) == u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("%w: pickle stack underflow", ErrCorrupt)
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops everything above the last MARK and the mark itself.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, fmt.Errorf("%w: pickle has no MARK to pop to", ErrCorrupt)
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) str(n int) error {
	b, err := u.need(n)
	if err != nil {
		return err
	}
	return u.push(string(b))
}

func (u *unpickler) memoPut(i int64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if len(u.memo) >= maxPickleStack {
		return fmt.Errorf("%w: pickle memo too large", ErrCorrupt)
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) memoGet(i int64) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("%w: pickle memo key %d not found", ErrCorrupt, i)
	}
	return u.push(v)
}

func (u *unpickler) global(g pyGlobal) error {
	if !isAllowedGlobal(g) {
		return fmt.Errorf("%w: global %s.%s (only state-dict tensors are read; nothing is executed)", ErrUnsupportedPickle, g.module, g.name)
	}
	return u.push(g)
}

func (u *unpickler) run() (any, error) {
	for {
		b, err := u.need(1)
		if err != nil {
			return nil, err
		}
		op := b[0]
		switch op {
		case 0x80: // PROTO
			p, err := u.need(1)
			if err != nil {
				return nil, err
			}
			if p[0] < 2 || p[0] > 5 {
				return nil, fmt.Errorf("%w: pickle protocol %d", ErrUnsupportedPickle, p[0])
			}
		case 0x95: // FRAME: a hint only
			if _, err := u.need(8); err != nil {
				return nil, err
			}
		case '.': // STOP
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if len(u.stack) != 0 || len(u.marks) != 0 {
				return nil, fmt.Errorf("%w: pickle stack not empty at STOP", ErrCorrupt)
			}
			return v, nil
		case '(': // MARK
			if len(u.marks) >= maxPickleStack {
				return nil, fmt.Errorf("%w: too many MARKs", ErrCorrupt)
			}
			u.marks = append(u.marks, len(u.stack))
		case '}': // EMPTY_DICT
			err = u.push(newDict())
		case ']': // EMPTY_LIST
			err = u.push(&pyList{})
		case ')': // EMPTY_TUPLE
			err = u.push(pyTuple{})
		case 'N':
			err = u.push(nil)
		case 0x88:
			err = u.push(true)
		case 0x89:
			err = u.push(false)
		case 'K': // BININT1
			var p []byte
			if p, err = u.need(1); err == nil {
				err = u.push(int64(p[0]))
			}
		case 'M': // BININT2
			var p []byte
			if p, err = u.need(2); err == nil {
				err = u.push(int64(binary.LittleEndian.Uint16(p)))
			}
		case 'J': // BININT
			var p []byte
			if p, err = u.need(4); err == nil {
				err = u.push(int64(int32(binary.LittleEndian.Uint32(p))))
			}
		case 0x8a: // LONG1
			var p []byte
			if p, err = u.need(1); err != nil {
				return nil, err
			}
			n := int(p[0])
			if p, err = u.need(n); err != nil {
				return nil, err
			}
			if n > 8 {
				return nil, fmt.Errorf("%w: LONG1 of %d bytes", ErrUnsupportedPickle, n)
			}
			var x uint64
			for i := n - 1; i >= 0; i-- {
				x = x<<8 | uint64(p[i])
			}
			v := int64(x)
			if n > 0 && n < 8 && p[n-1]&0x80 != 0 { // sign-extend
				v -= int64(1) << (8 * n)
			}
			err = u.push(v)
		case 'G': // BINFLOAT (big-endian)
			var p []byte
			if p, err = u.need(8); err == nil {
				err = u.push(math.Float64frombits(binary.BigEndian.Uint64(p)))
			}
		case 'X': // BINUNICODE
			var p []byte
			if p, err = u.need(4); err == nil {
				err = u.str(int(binary.LittleEndian.Uint32(p)))
			}
		case 0x8c: // SHORT_BINUNICODE
			var p []byte
			if p, err = u.need(1); err == nil {
				err = u.str(int(p[0]))
			}
		case 0x8d: // BINUNICODE8
			var p []byte
			if p, err = u.need(8); err == nil {
				n := binary.LittleEndian.Uint64(p)
				if n > uint64(len(u.data)) {
					return nil, fmt.Errorf("%w: pickle truncated", ErrCorrupt)
				}
				err = u.str(int(n))
			}
		case 'c': // GLOBAL "module\nname\n"
			var mod, name string
			if mod, err = u.line(); err != nil {
				return nil, err
			}
			if name, err = u.line(); err != nil {
				return nil, err
			}
			err = u.global(pyGlobal{mod, name})
		case 0x93: // STACK_GLOBAL
			var n, m any
			if n, err = u.pop(); err != nil {
				return nil, err
			}
			if m, err = u.pop(); err != nil {
				return nil, err
			}
			ms, ok1 := m.(string)
			ns, ok2 := n.(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("%w: STACK_GLOBAL of %s, %s", ErrCorrupt, pyType(m), pyType(n))
			}
			err = u.global(pyGlobal{ms, ns})
		case 't': // TUPLE
			var items []any
			if items, err = u.popMark(); err == nil {
				err = u.pushTuple(items)
			}
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			t := make([]any, n)
			for i := n - 1; i >= 0; i-- {
				if t[i], err = u.pop(); err != nil {
					return nil, err
				}
			}
			err = u.pushTuple(t)
		case 'q': // BINPUT
			var p []byte
			if p, err = u.need(1); err == nil {
				err = u.memoPut(int64(p[0]))
			}
		case 'r': // LONG_BINPUT
			var p []byte
			if p, err = u.need(4); err == nil {
				err = u.memoPut(int64(binary.LittleEndian.Uint32(p)))
			}
		case 0x94: // MEMOIZE
			err = u.memoPut(int64(len(u.memo)))
		case 'h': // BINGET
			var p []byte
			if p, err = u.need(1); err == nil {
				err = u.memoGet(int64(p[0]))
			}
		case 'j': // LONG_BINGET
			var p []byte
			if p, err = u.need(4); err == nil {
				err = u.memoGet(int64(binary.LittleEndian.Uint32(p)))
			}
		case 'Q': // BINPERSID
			var pid any
			if pid, err = u.pop(); err != nil {
				return nil, err
			}
			var s *torchStorage
			if s, err = persistentStorage(pid); err == nil {
				err = u.push(s)
			}
		case 'R': // REDUCE
			var args, fn any
			if args, err = u.pop(); err != nil {
				return nil, err
			}
			if fn, err = u.pop(); err != nil {
				return nil, err
			}
			var v any
			if v, err = reduce(fn, args); err == nil {
				err = u.push(v)
			}
		case 'b': // BUILD: only an OrderedDict's __dict__ (state_dict._metadata)
			var state, obj any
			if state, err = u.pop(); err != nil {
				return nil, err
			}
			if obj, err = u.top(); err != nil {
				return nil, err
			}
			_, isDict := obj.(*pyDict)
			_, stateDict := state.(*pyDict)
			if !isDict || !(stateDict || state == nil) {
				return nil, fmt.Errorf("%w: BUILD of %s with %s", ErrUnsupportedPickle, pyType(obj), pyType(state))
			}
		case 's': // SETITEM
			var k, v, d any
			if v, err = u.pop(); err != nil {
				return nil, err
			}
			if k, err = u.pop(); err != nil {
				return nil, err
			}
			if d, err = u.top(); err != nil {
				return nil, err
			}
			dict, ok := d.(*pyDict)
			if !ok {
				return nil, fmt.Errorf("%w: SETITEM on %s", ErrCorrupt, pyType(d))
			}
			if err = u.grow(dict, []any{v}); err == nil {
				err = dict.set(k, v)
			}
		case 'u': // SETITEMS
			var items []any
			if items, err = u.popMark(); err != nil {
				return nil, err
			}
			var d any
			if d, err = u.top(); err != nil {
				return nil, err
			}
			dict, ok := d.(*pyDict)
			if !ok || len(items)%2 != 0 {
				return nil, fmt.Errorf("%w: SETITEMS on %s with %d items", ErrCorrupt, pyType(d), len(items))
			}
			err = u.grow(dict, items)
			for i := 0; i < len(items) && err == nil; i += 2 {
				err = dict.set(items[i], items[i+1])
			}
		case 'a': // APPEND
			var v, l any
			if v, err = u.pop(); err != nil {
				return nil, err
			}
			if l, err = u.top(); err != nil {
				return nil, err
			}
			list, ok := l.(*pyList)
			if !ok {
				return nil, fmt.Errorf("%w: APPEND on %s", ErrCorrupt, pyType(l))
			}
			if err = u.grow(list, []any{v}); err == nil {
				list.items = append(list.items, v)
			}
		case 'e': // APPENDS
			var items []any
			if items, err = u.popMark(); err != nil {
				return nil, err
			}
			var l any
			if l, err = u.top(); err != nil {
				return nil, err
			}
			list, ok := l.(*pyList)
			if !ok {
				return nil, fmt.Errorf("%w: APPENDS on %s", ErrCorrupt, pyType(l))
			}
			if err = u.grow(list, items); err == nil {
				list.items = append(list.items, items...)
			}
		default:
			return nil, fmt.Errorf("%w: opcode %#02x (%q)", ErrUnsupportedPickle, op, rune(op))
		}
		if err != nil {
			return nil, err
		}
	}
}

// line reads a newline-terminated ASCII line (GLOBAL's arguments).
func (u *unpickler) line() (string, error) {
	i := strings.IndexByte(string(u.data[u.pos:min(len(u.data), u.pos+256)]), '\n')
	if i < 0 {
		return "", fmt.Errorf("%w: GLOBAL name not terminated", ErrCorrupt)
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

// persistentStorage interprets torch's persistent id
// ('storage', torch.XStorage, key, location, numel).
func persistentStorage(pid any) (*torchStorage, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("%w: persistent id %s of length %d, want ('storage', type, key, location, numel)", ErrUnsupportedPickle, pyType(pid), len(t))
	}
	if s, ok := t[0].(string); !ok || s != "storage" {
		return nil, fmt.Errorf("%w: persistent id kind %s, want 'storage'", ErrUnsupportedPickle, pyRepr(t[0]))
	}
	g, ok := t[1].(pyGlobal)
	if !ok || g.module != "torch" {
		return nil, fmt.Errorf("%w: storage type %s", ErrUnsupportedPickle, pyType(t[1]))
	}
	if _, ok := torchStorageTypes[g.name]; !ok {
		return nil, fmt.Errorf("%w: storage type torch.%s", ErrUnsupportedPickle, g.name)
	}
	var key string
	switch k := t[2].(type) {
	case string:
		key = k
	case int64:
		key = fmt.Sprint(k)
	default:
		return nil, fmt.Errorf("%w: storage key of type %s", ErrCorrupt, pyType(t[2]))
	}
	if key == "" || strings.ContainsAny(key, "/\\") || key == "." || key == ".." {
		return nil, fmt.Errorf("%w: storage key %q", ErrCorrupt, key)
	}
	if _, ok := t[3].(string); !ok {
		return nil, fmt.Errorf("%w: storage location of type %s", ErrCorrupt, pyType(t[3]))
	}
	n, ok := t[4].(int64)
	if !ok || n < 0 {
		return nil, fmt.Errorf("%w: storage size %s", ErrCorrupt, pyRepr(t[4]))
	}
	return &torchStorage{typ: g.name, key: key, numel: n}, nil
}

// intTuple converts a tuple of ints.
func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%w: tensor %s is %s, want a tuple", ErrCorrupt, what, pyType(v))
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%w: tensor %s %s", ErrCorrupt, what, pyRepr(t))
		}
		out[i] = n
	}
	return out, nil
}

// reduce interprets fn(*args) for the allowed globals.
func reduce(fn, args any) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("%w: REDUCE of %s", ErrUnsupportedPickle, pyType(fn))
	}
	a, ok := args.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("%w: REDUCE arguments are %s", ErrCorrupt, pyType(args))
	}
	switch g {
	case pyGlobal{"collections", "OrderedDict"}:
		if len(a) != 0 {
			return nil, fmt.Errorf("%w: OrderedDict with %d arguments", ErrUnsupportedPickle, len(a))
		}
		return newDict(), nil
	case pyGlobal{"torch._utils", "_rebuild_parameter"}:
		// (data, requires_grad, backward_hooks): the parameter is its data.
		if len(a) != 3 {
			return nil, fmt.Errorf("%w: _rebuild_parameter with %d arguments", ErrCorrupt, len(a))
		}
		t, ok := a[0].(*torchTensor)
		if !ok {
			return nil, fmt.Errorf("%w: _rebuild_parameter of %s", ErrCorrupt, pyType(a[0]))
		}
		return t, nil
	case pyGlobal{"torch._utils", "_rebuild_tensor_v2"}, pyGlobal{"torch._utils", "_rebuild_tensor"}:
		// v2: (storage, storage_offset, size, stride, requires_grad,
		// backward_hooks[, metadata]); v1: the first four.
		if len(a) < 4 || len(a) > 7 || (g.name == "_rebuild_tensor" && len(a) != 4) {
			return nil, fmt.Errorf("%w: %s with %d arguments", ErrCorrupt, g.name, len(a))
		}
		s, ok := a[0].(*torchStorage)
		if !ok {
			return nil, fmt.Errorf("%w: tensor storage is %s", ErrCorrupt, pyType(a[0]))
		}
		off, ok := a[1].(int64)
		if !ok || off < 0 {
			return nil, fmt.Errorf("%w: tensor storage offset %s", ErrCorrupt, pyRepr(a[1]))
		}
		shape, err := intTuple(a[2], "size")
		if err != nil {
			return nil, err
		}
		stride, err := intTuple(a[3], "stride")
		if err != nil {
			return nil, err
		}
		if len(shape) != len(stride) {
			return nil, fmt.Errorf("%w: tensor size %v and stride %v differ in rank", ErrCorrupt, shape, stride)
		}
		return &torchTensor{storage: s, offset: off, shape: shape, stride: stride}, nil
	}
	return nil, fmt.Errorf("%w: call of %s.%s", ErrUnsupportedPickle, g.module, g.name)
}

// pyRepr formats a pickle value for an error message without recursing:
// scalars are shown, a tuple's scalar items too (at most 8), and any
// nested container only by its type.
func pyRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case string:
		if len(v) > 64 {
			return strconv.Quote(v[:64]) + "..."
		}
		return strconv.Quote(v)
	case int64, float64, bool:
		return fmt.Sprint(v)
	case pyTuple:
		var b strings.Builder
		b.WriteByte('(')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			if i == 8 {
				fmt.Fprintf(&b, "... %d more", len(v)-i)
				break
			}
			switch x.(type) {
			case nil, string, int64, float64, bool:
				b.WriteString(pyRepr(x))
			default:
				b.WriteString(pyType(x))
			}
		}
		b.WriteByte(')')
		return b.String()
	}
	return pyType(v)
}
