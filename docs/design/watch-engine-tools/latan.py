import statistics as st,sys
ends={}
for l in open(sys.argv[1]):
    p,ts,te=l.split(); ends[int(p)]=(float(ts),float(te))
lat=[];srv=[];seen=set();acked=[]
for l in open(sys.argv[2]):
    if l.startswith('SUMMARY'): print(l.strip()[:120]); continue
    f=l.split(); t=float(f[0]); src=f[4]; dst=f[6]
    sp=int(src.rsplit(':',1)[1]); dp=int(dst.rsplit(':',1)[1])
    if dp==31000 and sp in ends:
        lat.append((t-ends[sp][1])*1e3); seen.add(sp)
        acked.append(int([x for x in f if x.startswith('bytes_acked=')][0].split('=')[1]))
    elif sp==31000 and dp in ends: srv.append((t-ends[dp][1])*1e3)
lat.sort(); srv.sort()
q=lambda a,p:a[int(p*(len(a)-1))]
life=sorted((te-ts)*1e3 for ts,te in ends.values())
print("conns",len(ends),"client msgs",len(lat),"server msgs",len(srv),"missing clients",len(set(ends)-seen), "lifetime ms p50 %.3f max %.3f"%(q(life,.5),life[-1]))
print("client close->msg ms p50 %.3f p90 %.3f p99 %.3f max %.3f"%(q(lat,.5),q(lat,.9),q(lat,.99),lat[-1]))
print("server close->msg ms p50 %.3f p99 %.3f max %.3f"%(q(srv,.5),q(srv,.99),srv[-1]))
print("client bytes_acked values",sorted(set(acked))[:5])
