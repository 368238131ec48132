package static

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzModulesJSON feeds arbitrary modules.json files to the folder check:
// an error or a module folder inside the model folder, never a panic.
func FuzzModulesJSON(f *testing.F) {
	f.Add([]byte(`[{"idx":0,"name":"0","path":"0_StaticEmbedding","type":"sentence_transformers.models.StaticEmbedding"},{"idx":1,"name":"1","path":"1_Normalize","type":"sentence_transformers.models.Normalize"}]`))
	f.Add([]byte(`[{"path":"/etc","type":"sentence_transformers.models.StaticEmbedding"}]`))
	f.Add([]byte(`[{"path":"a/../../b","type":"sentence_transformers.models.StaticEmbedding"}]`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "modules.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		mdir, qdir, err := moduleDirs(dir)
		if err != nil {
			return
		}
		for _, d := range []string{mdir, qdir} {
			if d == "" {
				continue
			}
			rel, rerr := filepath.Rel(dir, d)
			if rerr != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) >= 3 && rel[:3] == "../" {
				t.Fatalf("module folder %q leaves %q", d, dir)
			}
		}
		Load(dir) // no files: an error, not a panic
	})
}
