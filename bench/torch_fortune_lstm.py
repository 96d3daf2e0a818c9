#!/usr/bin/python3
"""PyTorch 1.13 (Debian python3-torch) peer of examples/fortune_lstm.toml, for
per-epoch time: Keras-style Tokenizer(num_words=10000) and pad_sequences(maxlen=100)
re-implemented here, Embedding(10000, 16) -> LSTM(16) -> Linear(5), Adam,
batch 32, on the same five fortune categories and the same split (entry i of a
category file is test data when i % 5 == 4).

torch.nn.LSTM has no recurrent dropout (Keras' recurrent_dropout): the peer uses
dropout 0.2 on the LSTM's input only and the fused nn.LSTM (no per-step Python),
which is the fastest a PyTorch user gets; padded steps are skipped with
pack_padded_sequence as Keras' mask_zero does.
Usage: /usr/bin/python3 torch_fortune_lstm.py [epochs] [threads]"""
import re, sys, time, collections
import torch, torch.nn as nn

CATS = ["computers", "definitions", "politics", "science", "songs-poems"]
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads); torch.manual_seed(0)

def entries(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    return [e.strip("\n") for e in text.split("\n%\n") if e.strip("\n")]

def words(t):
    t = t.lower().translate(str.maketrans(FILTERS, " " * len(FILTERS)))
    return [w for w in t.split(" ") if w]

train, test = [], []
for c, name in enumerate(CATS):
    for i, e in enumerate(entries("/usr/share/games/fortunes/" + name)):
        (test if i % 5 == 4 else train).append((e, c))
counts = collections.Counter(w for t, _ in train for w in words(t))
index = {w: i + 1 for i, (w, _) in enumerate(counts.most_common())}
def encode(t):
    ids = [index[w] for w in words(t) if w in index and index[w] < 10000][-100:]
    return ids
def batchify(rows):
    seqs = [encode(t) for t, _ in rows]
    lengths = torch.tensor([max(1, len(s)) for s in seqs])
    x = torch.zeros(len(seqs), 100, dtype=torch.long)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = torch.tensor(s, dtype=torch.long)  # post-padded for packing
    return x, lengths, torch.tensor([c for _, c in rows])
xtr, ltr, ytr = batchify(train)
xte, lte, yte = batchify(test)

class Model(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(10000, 16, padding_idx=0); s.drop = nn.Dropout(0.2)
        s.lstm = nn.LSTM(16, 16, batch_first=True); s.fc = nn.Linear(16, 5)
    def forward(s, x, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(s.drop(s.emb(x)), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = s.lstm(packed)
        return s.fc(h[-1])

model = Model(); opt = torch.optim.Adam(model.parameters(), 3e-3); lossf = nn.CrossEntropyLoss()
bs = 32
for ep in range(epochs):
    model.train(); perm = torch.randperm(len(xtr)); t0 = time.perf_counter()
    for i in range(0, len(xtr), bs):
        j = perm[i:i + bs]; opt.zero_grad(); loss = lossf(model(xtr[j], ltr[j]), ytr[j]); loss.backward(); opt.step()
    dt = time.perf_counter() - t0
    model.eval()
    with torch.no_grad(): acc = (model(xte, lte).argmax(1) == yte).float().mean().item()
    print(f"fortune_lstm epoch {ep+1}: {dt:.2f} s  test acc {acc:.4f}  ({len(xtr)} training texts)", flush=True)
