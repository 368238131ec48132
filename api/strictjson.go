package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// encoding/json matches object keys to struct fields case-insensitively
// and lets a repeated key overwrite the earlier one. checkJSON walks the
// token stream first, beside the Go type the body decodes into, and
// refuses both: a key repeated within one object, and a key that is not
// exactly (case-sensitively) one of the struct's JSON names. Type errors
// are left to the decoder that runs afterwards.

// maxJSONDepth bounds the nesting of a request body (the bodies this
// server takes nest three levels).
const maxJSONDepth = 32

var rawMessageType = reflect.TypeOf(json.RawMessage(nil))

// checkJSON checks data against the type of v (a pointer).
func checkJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	w := jsonWalker{dec: dec}
	if err := w.value(reflect.TypeOf(v), "", 0); err != nil {
		return err
	}
	return nil
}

type jsonWalker struct{ dec *json.Decoder }

// fieldNames caches, per struct type, its exact JSON names → field type.
var fieldNames sync.Map // reflect.Type → map[string]reflect.Type

func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldNames.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					m[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldNames.Store(t, m)
	return m
}

func where(path string) string {
	if path == "" {
		return "the top-level value"
	}
	return path
}

// value walks one JSON value that decodes into t (nil: anything).
func (w *jsonWalker) value(t reflect.Type, path string, depth int) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || (t != nil && t.Kind() == reflect.Interface) {
		t = nil
	}
	tok, err := w.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("unexpected end of JSON")
		}
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	if depth >= maxJSONDepth {
		return fmt.Errorf("JSON nested more than %d levels deep", maxJSONDepth)
	}
	switch d {
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = jsonFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]bool{}
		for w.dec.More() {
			kt, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			if seen[key] {
				return fmt.Errorf("duplicate key %q in %s", key, where(path))
			}
			seen[key] = true
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[key]; !ok {
					for name := range fields {
						if strings.EqualFold(name, key) {
							return fmt.Errorf("unknown field %q in %s (field names are case-sensitive: %q)", key, where(path), name)
						}
					}
					return fmt.Errorf("unknown field %q in %s", key, where(path))
				}
			}
			sub := key
			if path != "" {
				sub = path + "." + key
			}
			if err := w.value(ft, sub, depth+1); err != nil {
				return err
			}
		}
		_, err = w.dec.Token() // '}'
		return err
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
		_, err = w.dec.Token() // ']'
		return err
	}
	return fmt.Errorf("unexpected %q", d)
}
