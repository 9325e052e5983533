#!/usr/bin/env python3
"""Import circles in src/: prints every pair of modules that import each
other and every set of modules (top level, and one level down) that import
one another round a circle, from the `crate::`/`super::` paths outside
comments and unit tests. Prints nothing when there are none.

    python3 scripts/import_cycles.py      # from the repository's root
"""
import re,os,collections,sys
mods={}
for root,_,files in os.walk('src'):
    for f in files:
        if f.endswith('.rs'):
            p=os.path.join(root,f)
            m=p[4:-3].replace('/','::')
            if m.endswith('::mod'): m=m[:-5]
            if m in('lib','main'): continue
            mods[m]=open(p).read()
names=set(mods)
def resolve(u):
    while u and u not in names:
        u='::'.join(u.split('::')[:-1])
    return u
def refs(m,s):
    s=re.split(r'#\[cfg\(test\)\]\s*mod tests',s)[0]
    s=re.sub(r"//[^\n]*","",s)
    out=set()
    # expand use groups
    for base,group in re.findall(r'(crate(?:::\w+)*|super(?:::\w+)*)::\{([^}]*)\}',s):
        for g in group.split(','):
            g=g.strip().split(' as ')[0].split('::')[0]
            if g: out.add(base+'::'+g)
    for u in re.findall(r'\b((?:crate|super)(?:::\w+)+)',s):
        out.add(u)
    res=set()
    parent=m.split('::')[:-1]
    for u in out:
        parts=u.split('::')
        if parts[0]=='crate': full=parts[1:]
        else:
            base=list(parent)
            # super relative to module m: m's parent for file modules
            i=0
            while i<len(parts) and parts[i]=='super':
                if i>0: base=base[:-1]
                i+=1
            # for a mod.rs module, super is its parent too: m itself is dir
            full=base+parts[i:]
        r=resolve('::'.join(full))
        if r and r!=m: res.add(r)
    return res
g={m:refs(m,s) for m,s in mods.items()}
def top(x,n): return '::'.join(x.split('::')[:n])
bad=0
for a in g:
    for b in g[a]:
        if a in g.get(b,()) and a<b: print('2-cycle',a,b); bad+=1
for depth in (1,2):
    tg=collections.defaultdict(set)
    for a in g:
        for b in g[a]:
            ta,tb=top(a,depth),top(b,depth)
            if ta!=tb and not (ta.startswith(tb+'::') or tb.startswith(ta+'::')): tg[ta].add(tb)
    # SCC
    idx={};low={};st=[];on=set();c=[0];out=[]
    sys.setrecursionlimit(10000)
    def sc(v):
        idx[v]=low[v]=c[0];c[0]+=1;st.append(v);on.add(v)
        for w in tg.get(v,()):
            if w not in idx: sc(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],idx[w])
        if low[v]==idx[v]:
            comp=[]
            while True:
                w=st.pop();on.discard(w);comp.append(w)
                if w==v:break
            if len(comp)>1: out.append(comp)
    for v in list(tg):
        if v not in idx: sc(v)
    for comp in out: print('depth',depth,'SCC',sorted(comp))
