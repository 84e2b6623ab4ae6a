import socket,struct,time,sys
def dump_compat(states):
    s=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,4)
    req=struct.pack("=BBBB",0,0,0,0)+b"\0"*48+struct.pack("=II",states,0)
    nl=struct.pack("=IHHII",16+len(req),18,0x301,1,0)+req
    t=time.perf_counter(); s.send(nl); n=0; fams={}
    while True:
        d=s.recv(65536); done=False; off=0
        while off<len(d):
            ln,ty=struct.unpack_from("=IH",d,off)
            if ty==3: done=True;break
            if ty==2: print("error",struct.unpack_from("=i",d,off+16)); done=True;break
            fam=d[off+16]; fams[fam]=fams.get(fam,0)+1
            n+=1; off+=(ln+3)&~3
        if done: break
    s.close()
    return (time.perf_counter()-t)*1e3,n,fams
r=[dump_compat(0x402) for _ in range(20)]
w=sorted(x[0] for x in r); print("compat TCPDIAG_GETSOCK AF_UNSPEC est+listen: p50 %.2f ms min %.2f, sockets %d fams %s"%(w[10],w[0],r[-1][1],r[-1][2]))
