package main

// `contriever index --train DURATION|static`: adapt, then index. The model
// is trained on the corpus being indexed (from scratch, or from --model)
// with a `contriever train` recipe for a wall-clock budget, in a training
// folder beside the index (IDX.train: model/, state.bin, train.csv,
// train.png), then the corpus is indexed with it (Build copies it into the
// index) and the manifest records how it was made (engine.TrainingInfo).
// An interrupted training continues where it stopped when the same command
// is run again (the budget clock is in state.bin); --force starts afresh.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/contriever-go/contriever/contrastive"
	"github.com/contriever-go/contriever/engine"
)

// indexTrainFlags are the training flags of `contriever index`.
type indexTrainFlags struct {
	train, recipe, config, vocab, extra *string
	steps                               *int64
	seed                                *uint64
}

func registerIndexTrainFlags(fs *flag.FlagSet) *indexTrainFlags {
	return &indexTrainFlags{
		train:  fs.String("train", "", "train the model on the corpus first, for this wall-clock budget (e.g. 20m; from scratch, or from --model), or \"static\" to build the static model; the training folder is --out.train and the manifest records how the model was made"),
		recipe: fs.String("recipe", recipeValidated, "--train: validated (static-tuned), bundled or paper (see contriever train --recipe)"),
		config: fs.String("train-config", "small", "--train from scratch: model configuration, small or tiny"),
		vocab:  fs.String("vocab", defaultVocab, "--train from scratch or static: vocab.txt (bert-base-uncased's; when the default is not found here, the copy built into the binary)"),
		extra:  fs.String("train-args", "", "--train: extra `contriever train` flags, space-separated (e.g. \"--batch-size 64 --lr 1e-4\"); they override the recipe's"),
		steps:  fs.Int64("train-steps", 0, "--train: stop after this many optimiser steps instead of the time budget (reproduction, tests)"),
		seed:   fs.Uint64("train-seed", 1, "--train: seed of the initialisation, the data order, the crops and dropout"),
	}
}

// indexTrain trains (or builds) the model for the index out on corpus and
// returns its folder and the record of how it was made. init is the
// initial model ("" from scratch); force discards a previous training
// folder instead of resuming it.
func indexTrain(ctx context.Context, f *indexTrainFlags, corpus, init, out string, force, quiet bool) (string, *engine.TrainingInfo, error) {
	dir := filepath.Clean(out) + ".train"
	if force {
		if err := os.RemoveAll(dir); err != nil {
			return "", nil, err
		}
	}
	absCorpus, _ := filepath.Abs(corpus)
	absDir, _ := filepath.Abs(dir)
	info := &engine.TrainingInfo{Corpus: absCorpus, Dir: absDir, Seed: *f.seed}
	extra := strings.Fields(*f.extra)
	start := time.Now()
	if *f.train == recipeStatic {
		if init != "" {
			return "", nil, errors.New("--train static builds its model from the corpus alone: drop --model")
		}
		model := filepath.Join(dir, "model")
		args := append([]string{"--recipe", recipeStatic, "--corpus", corpus, "--vocab", *f.vocab, "--out", model}, extra...)
		if quiet {
			args = append(args, "--quiet")
		}
		if err := runTrain(args); err != nil {
			return "", nil, fmt.Errorf("--train static: %w", err)
		}
		info.Recipe, info.Init, info.Settings = recipeStatic, "none", strings.Join(extra, " ")
		info.Seconds = time.Since(start).Seconds()
		return model, info, nil
	}
	tuned := isTunedRecipe(*f.recipe)
	if !tuned && *f.recipe != recipePaper && *f.recipe != recipeBundled {
		return "", nil, fmt.Errorf("--recipe %q: want %s, %s, %s or %s with --train DURATION", *f.recipe, recipeValidated, recipeStaticTuned, recipeBundled, recipePaper)
	}
	budget, err := time.ParseDuration(*f.train)
	if err != nil || budget <= 0 {
		return "", nil, fmt.Errorf("--train %q: want a positive duration (e.g. 20m) or static", *f.train)
	}
	if *f.steps < 0 {
		return "", nil, fmt.Errorf("--train-steps %d: must not be negative", *f.steps)
	}
	args := []string{"--corpus", corpus, "--out", dir, "--recipe", *f.recipe, "--seed", strconv.FormatUint(*f.seed, 10)}
	if !tuned {
		args = append(args, "--cache", filepath.Join(dir, "tokens.ctok"))
	}
	if *f.steps > 0 {
		args = append(args, "--steps", strconv.FormatInt(*f.steps, 10))
	} else {
		args = append(args, "--time", budget.String())
		info.Budget = budget.String()
	}
	if init != "" {
		args = append(args, "--init", init)
		info.Init, _ = filepath.Abs(init)
	} else if tuned {
		args = append(args, "--vocab", *f.vocab)
		info.Init = "static (PPMI + SVD, " + filepath.Join(dir, "init") + ")"
	} else {
		args = append(args, "--config", *f.config, "--vocab", *f.vocab)
		info.Init = "scratch (config " + *f.config + ")"
	}
	if _, err := os.Stat(filepath.Join(dir, contrastive.StateName)); err == nil {
		args = append(args, "--resume")
	}
	if quiet {
		args = append(args, "--quiet")
	}
	args = append(args, extra...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	if err := runTrain(args); err != nil {
		return "", nil, fmt.Errorf("--train: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	var steps int64
	if tuned {
		steps, err = tunedSteps(filepath.Join(dir, contrastive.StateName))
	} else {
		var st *contrastive.State
		if st, err = contrastive.LoadState(filepath.Join(dir, contrastive.StateName)); err == nil {
			steps = st.Step
		}
	}
	if err != nil {
		return "", nil, fmt.Errorf("--train: %w", err)
	}
	info.Recipe, info.Steps = *f.recipe, steps
	info.Settings = strings.TrimSpace(recipeString(*f.recipe) + " " + strings.Join(extra, " "))
	info.Seconds = time.Since(start).Seconds()
	return filepath.Join(dir, "model"), info, nil
}
