// minimal destroy reader: recvmmsg batches of 64, counts messages for port, reports cpu. usage: mm port seconds idle_ms
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <poll.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
static double mono(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){int port=atoi(argv[1]);double T=atof(argv[2]);int idle=atoi(argv[3]); int nap=argc>4?atoi(argv[4]):0;
  int fd=socket(AF_NETLINK,SOCK_RAW|SOCK_CLOEXEC,NETLINK_SOCK_DIAG); int v=8<<20; setsockopt(fd,SOL_SOCKET,SO_RCVBUFFORCE,&v,sizeof v);
  struct sockaddr_nl sa={.nl_family=AF_NETLINK}; bind(fd,(void*)&sa,sizeof sa);
  for(int g=1;g<=4;g++)setsockopt(fd,SOL_NETLINK,NETLINK_ADD_MEMBERSHIP,&g,sizeof g);
  enum{B=64}; static char bufs[B][1024]; struct iovec iov[B]; struct mmsghdr mh[B];
  for(int i=0;i<B;i++){iov[i].iov_base=bufs[i];iov[i].iov_len=1024;memset(&mh[i],0,sizeof mh[i]);mh[i].msg_hdr.msg_iov=&iov[i];mh[i].msg_hdr.msg_iovlen=1;}
  fprintf(stderr,"READY\n"); long n=0,calls=0,enob=0; double t0=mono(),last=t0;
  while(mono()-t0<T){ if(n&&(mono()-last)*1000>idle)break;
    struct pollfd p={fd,POLLIN,0}; if(poll(&p,1,100)<=0)continue;
    int r=recvmmsg(fd,mh,B,MSG_DONTWAIT,NULL); if(r<0){if(errno==ENOBUFS)enob++;continue;} calls++; last=mono(); if(nap && r<B)usleep(nap);
    for(int i=0;i<r;i++){struct nlmsghdr*h=(void*)bufs[i]; struct inet_diag_msg*m=NLMSG_DATA(h); if(ntohs(m->id.idiag_sport)==port||ntohs(m->id.idiag_dport)==port)n++;}}
  struct rusage ru;getrusage(RUSAGE_SELF,&ru);
  printf("MM inrange=%ld calls=%ld enobufs=%ld cpu=%.3f\n",n,calls,enob,ru.ru_utime.tv_sec+ru.ru_utime.tv_usec/1e6+ru.ru_stime.tv_sec+ru.ru_stime.tv_usec/1e6);}
